//! Test support: the fields a `tracing` span or event records, as `name=value` text.

/// Appends each visited field to the vector as `name=value` (`Debug` for non-strings).
pub(crate) struct FieldText<'a>(pub(crate) &'a mut Vec<String>);

impl tracing::field::Visit for FieldText<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push(format!("{}={value}", field.name()));
    }
}

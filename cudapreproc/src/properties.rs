//! Property values that a pipeline description sets and that GLib or an element refuses. Both
//! only log a warning (GLib's "value ... is invalid or out of range for property ...", or the
//! element's "property ... not changed: ...") and keep the element's previous value, so a pipeline
//! would run with settings the user did not ask for. The warnings logged while a description is
//! parsed are collected instead, and parsing fails with them.

use std::cell::RefCell;

use gst::glib;

thread_local! {
    /// The warnings logged on this thread while [`refused_while`] runs.
    static REFUSED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Installs the log handlers that collect the warnings, once per process. Called when the
/// elements are registered, before the application can install handlers of its own for these
/// domains: GLib calls the handler installed last, so the application's keep working.
pub(crate) fn install() {
    gstcudapreproc::handle_property_warnings(|domain, level, message| {
        let collected = REFUSED.with(|refused| match refused.borrow_mut().as_mut() {
            Some(warnings) => {
                warnings.push(message.to_string());
                true
            }
            None => false,
        });
        if !collected {
            glib::log_default_handler(domain, level, Some(message));
        }
    });
}

/// Runs `f` and returns its result with the property warnings logged on this thread meanwhile.
pub(crate) fn refused_while<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let outer = REFUSED.with(|refused| refused.borrow_mut().replace(Vec::new()));
    let result = f();
    let warnings = REFUSED.with(|refused| std::mem::replace(&mut *refused.borrow_mut(), outer));
    (result, warnings.unwrap_or_default())
}

//! Reading numbers out of property values given as GstValueArrays: a launch line's
//! `"<1, 0.5>"` holds doubles when the property's element spec says so, but an application may
//! build the array from floats or integers.

use gst::glib;

/// An array element as f64: a double, float or int.
pub fn number(value: &glib::SendValue) -> Result<f64, String> {
    if let Ok(v) = value.get::<f64>() {
        Ok(v)
    } else if let Ok(v) = value.get::<f32>() {
        Ok(f64::from(v))
    } else if let Ok(v) = value.get::<i32>() {
        Ok(f64::from(v))
    } else {
        Err(format!("{} is not a number", value.type_()))
    }
}

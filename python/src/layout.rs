//! The layout of the `#[repr(C)]` structs Python passes in and reads back, as text: the module
//! builds its ctypes Structures from it (`cudapreproc_struct_layout`), so each struct is declared
//! once, here in Rust, and a module and library built from different sources cannot disagree
//! about a field's place or type without the module saying so.

use std::ffi::c_char;

/// A scalar field type Python can mirror, by the name the module maps to a ctypes type: `i32`,
/// `u32`, `i64`, `u64`, `u8`, `f64`, `string` (a NUL-terminated `char *`) or `u64_pointer`.
pub(crate) trait Scalar {
    const NAME: &'static str;
}

/// A field type as the layout names it: a [`Scalar`]'s name, `NAME[N]` for an array of `N`, or
/// the name of another struct [`c_struct!`] declares (which Python builds first).
pub(crate) trait CType {
    fn name() -> String;
}

macro_rules! scalar_ctypes {
    ($($ty:ty => $name:literal),* $(,)?) => {
        $(impl Scalar for $ty {
            const NAME: &'static str = $name;
        })*
    };
}

scalar_ctypes! {
    i32 => "i32",
    u32 => "u32",
    i64 => "i64",
    u64 => "u64",
    u8 => "u8",
    f64 => "f64",
    *const c_char => "string",
    *const u64 => "u64_pointer",
}

impl<T: Scalar> CType for T {
    fn name() -> String {
        T::NAME.to_string()
    }
}

impl<T: Scalar, const N: usize> CType for [T; N] {
    fn name() -> String {
        format!("{}[{N}]", T::NAME)
    }
}

/// A struct whose layout Python reads.
pub(crate) trait Described {
    /// `SIZE;name:TYPE:OFFSET;...`, every field in declaration order.
    fn layout() -> String;
}

/// Declares a `#[repr(C)]` struct (every field public) and implements [`Described`] for it, and
/// [`CType`], so that it can be a field of another.
macro_rules! c_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $crate::layout::CType for $name {
            fn name() -> String {
                stringify!($name).to_string()
            }
        }

        impl $crate::layout::Described for $name {
            fn layout() -> String {
                let mut text = std::mem::size_of::<$name>().to_string();
                $(
                    text.push_str(&format!(
                        ";{}:{}:{}",
                        stringify!($field),
                        <$ty as $crate::layout::CType>::name(),
                        std::mem::offset_of!($name, $field),
                    ));
                )*
                text
            }
        }
    };
}
pub(crate) use c_struct;

/// The layout of the struct Python names `name` (its Rust name), or `None` for a name this
/// library does not have.
pub(crate) fn layout_of(name: &[u8]) -> Option<String> {
    Some(match name {
        b"TensorDescription" => crate::TensorDescription::layout(),
        b"TensorFormC" => crate::reader::TensorFormC::layout(),
        b"ReaderOptionsC" => crate::reader::ReaderOptionsC::layout(),
        b"WriterOptionsC" => crate::writer::WriterOptionsC::layout(),
        b"DatasetOptionsC" => crate::dataset::DatasetOptionsC::layout(),
        b"SamplerC" => crate::dataset::SamplerC::layout(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    c_struct! {
        /// Padding after `flag` and `count`: offsets must be C's, not the fields' sizes added.
        pub struct Padded {
            pub flag: u8,
            pub wide: f64,
            pub count: i32,
            pub pair: [u64; 2],
            pub name: *const c_char,
            pub single: [i32; 1],
        }
    }

    c_struct! {
        /// A struct as a field, aligned as its widest field.
        pub struct Outer {
            pub tag: u8,
            pub inner: Padded,
        }
    }

    #[test]
    fn layout_gives_c_offsets_and_array_lengths_even_of_one() {
        assert_eq!(
            Padded::layout(),
            "56;flag:u8:0;wide:f64:8;count:i32:16;pair:u64[2]:24;name:string:40;single:i32[1]:48"
        );
    }

    #[test]
    fn layout_names_a_struct_field_by_its_struct() {
        assert_eq!(Outer::layout(), "64;tag:u8:0;inner:Padded:8");
    }
}

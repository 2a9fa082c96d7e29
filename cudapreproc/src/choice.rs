//! Options chosen by name, as Python and the C ABI pass them: one declaration gives the enum and
//! its parsing, with an error that names the option, the value and the choices.

use crate::Error;

/// The names of the choices as a message lists them: `a`, `a or b`, `a, b or c`.
pub(crate) fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [only] => (*only).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The error for `value`, which is none of `names`, given for the option `option`.
pub(crate) fn unknown(option: &str, value: &str, names: &[&str]) -> Error {
    Error::InvalidArgument(format!("{option} \"{value}\": {}", one_of(names)))
}

/// The value `name` stands for among `choices` (name, value), or the [`unknown`] error for the
/// option `option`: for choices that are values rather than an enum of their own.
pub(crate) fn by_name<T: Copy>(
    option: &str,
    name: &str,
    choices: &[(&str, T)],
) -> Result<T, Error> {
    match choices.iter().find(|(choice, _)| *choice == name) {
        Some(&(_, value)) => Ok(value),
        None => {
            let names: Vec<&str> = choices.iter().map(|&(choice, _)| choice).collect();
            Err(unknown(option, name, &names))
        }
    }
}

/// Declares `enum $name` (with `Clone, Copy, Debug, Default, PartialEq, Eq`; mark the default
/// variant `#[default]`) and its `FromStr`: each variant is read from its name or any of its
/// aliases (`H264 = "h264" | "avc"`), and anything else is an [`Error::InvalidArgument`]
/// naming the option (`$option`), the value and each variant's first name.
///
/// [`Error::InvalidArgument`]: crate::Error::InvalidArgument
macro_rules! named_choice {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident($option:literal) {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = $first:literal $(| $alias:literal)*
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;

            fn from_str(s: &str) -> Result<Self, $crate::Error> {
                match s {
                    $($first $(| $alias)* => Ok($name::$variant),)+
                    other => Err($crate::choice::unknown($option, other, &[$($first),+])),
                }
            }
        }
    };
}

pub(crate) use named_choice;

#[cfg(test)]
mod tests {
    use super::one_of;

    #[test]
    fn choices_are_listed_as_a_sentence() {
        assert_eq!(one_of(&["raise"]), "raise");
        assert_eq!(one_of(&["h264", "h265"]), "h264 or h265");
        assert_eq!(one_of(&["a", "b", "c"]), "a, b or c");
    }
}

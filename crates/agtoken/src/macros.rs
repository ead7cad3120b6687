//! Macros shared by the two formats.

/// A privilege enum: variants with their wire ids and names, `ALL`, `id`, `from_id`, `name`.
macro_rules! privilege_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value),+
        }

        impl $name {
            /// Every privilege of this service, in id order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The id the format stores.
            pub const fn id(self) -> u16 {
                self as u16
            }

            /// The privilege with this id, if the service defines it.
            pub fn from_id(id: u16) -> Option<Self> {
                match id {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The privilege with this name ([`Self::name`]).
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|p| p.name() == name)
            }

            /// A short name, as messages and JSON show it.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

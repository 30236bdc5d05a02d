//! Every stage and sink kind, listed once. A new kind is a module (its config, check, build and
//! tests, implementing [`Kind`] and [`StageKind`] or [`SinkKind`]) plus one line here; the
//! pipeline file's `type:` keys, config compilation and graph wiring all come from these lists.

use crate::config::diag::{Diagnostics, parse_component};
use crate::stage::{CompileCx, Kind, SinkKind, StageKind};
use crate::{sink, stage};
use serde_yaml_ng::Value;

/// An enum with one variant per kind, each holding that kind's checked spec.
macro_rules! kinds {
    ($(#[$doc:meta])* $name:ident: dyn $api:ident { $($variant:ident => $spec:ty,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub enum $name {
            $($variant($spec),)*
        }

        impl $name {
            /// Every `type:` this section takes, in the list's order.
            pub const TYPES: &'static [&'static str] = &[$(<$spec as Kind>::TYPE,)*];

            /// The kind's spec behind its common interface.
            pub fn get(&self) -> &dyn $api {
                match self {
                    $($name::$variant(s) => s,)*
                }
            }

            /// The same, to change it (replay moves sinks' outputs).
            pub fn get_mut(&mut self) -> &mut dyn $api {
                match self {
                    $($name::$variant(s) => s,)*
                }
            }

            /// Reads and checks a component of type `kind` (one of [`Self::TYPES`]); `rest`
            /// is its mapping without `type:`.
            pub(crate) fn compile(
                kind: &str,
                rest: &Value,
                key: &str,
                cx: &mut CompileCx,
            ) -> Option<$name> {
                $(
                    if kind == <$spec as Kind>::TYPE {
                        let cfg: <$spec as Kind>::Config = parse(rest, key, cx.diag)?;
                        return <$spec as Kind>::compile(cfg, key, cx).map($name::$variant);
                    }
                )*
                None
            }
        }
    };
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value, key: &str, d: &mut Diagnostics) -> Option<T> {
    parse_component(v, key, d)
}

kinds! {
    /// A checked entry of `stages:`.
    StageSpec: dyn StageKind {
        Detect => stage::detect::Spec,
        Segment => stage::segment::Spec,
        Track => stage::track::Spec,
        Adas => stage::adas::Spec,
        Analytics => stage::analytics::Spec,
    }
}

kinds! {
    /// A checked entry of `sinks:`.
    SinkSpec: dyn SinkKind {
        Video => sink::video::Spec,
        Jsonl => sink::jsonl::Spec,
        Events => sink::events::Spec,
        Mqtt => sink::mqtt::Spec,
        Mask => sink::mask::Spec,
        Mot => sink::mot::Spec,
        Rtsp => sink::rtsp::Spec,
        Console => sink::console::Spec,
    }
}

impl SinkSpec {
    /// The sink's file for `stream`: `{stream}` in the path replaced by the stream id.
    pub fn path_for(&self, stream: &str) -> std::path::PathBuf {
        stage::path_for(self.get().path(), stream)
    }
}

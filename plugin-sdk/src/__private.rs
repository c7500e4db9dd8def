//! Bindings and JSON glue behind the `*_flow!` macros.
//!
//! Each flow kind's world is generated once here with an imports-only type
//! section; the exports are described only where a macro is expanded, so a
//! component exports exactly the one kind its author chose.
#![allow(missing_docs)]

use crate::{FlowError, Form, SubmitError};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use wit_bindgen;

#[allow(unsafe_code, clippy::all)]
pub mod autolaunched {
    wit_bindgen::generate!({
        path: "../wit",
        world: "autolaunched-flow",
        pub_export_macro: true,
        export_macro_name: "export_autolaunched",
        default_bindings_module: "::stagecraft_sdk::__private::autolaunched",
        runtime_path: "::stagecraft_sdk::__private::wit_bindgen::rt",
    });
}

#[allow(unsafe_code, clippy::all)]
pub mod evaluation {
    wit_bindgen::generate!({
        path: "../wit",
        world: "evaluation-flow",
        pub_export_macro: true,
        export_macro_name: "export_evaluation",
        default_bindings_module: "::stagecraft_sdk::__private::evaluation",
        runtime_path: "::stagecraft_sdk::__private::wit_bindgen::rt",
    });
}

#[allow(unsafe_code, clippy::all)]
pub mod screen {
    wit_bindgen::generate!({
        path: "../wit",
        world: "screen-flow",
        pub_export_macro: true,
        export_macro_name: "export_screen",
        default_bindings_module: "::stagecraft_sdk::__private::screen",
        runtime_path: "::stagecraft_sdk::__private::wit_bindgen::rt",
    });
}

mod convert;

/// Decodes the inputs, or explains why they do not fit the flow's type.
/// Errors name the offending field (`income: invalid type ...`).
fn decode<I: DeserializeOwned>(what: &str, json: &str) -> Result<I, String> {
    let deserializer = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(deserializer)
        .map_err(|e| format!("{what} do not match what the flow expects: {e}"))
}

fn encode<O: Serialize>(value: &O) -> Result<String, FlowError> {
    serde_json::to_string(value)
        .map_err(|e| FlowError::new("invalid-output", format!("outputs cannot be encoded: {e}")))
}

/// Runs an autolaunched flow function over JSON.
pub fn run_autolaunched<I, O>(
    inputs: &str,
    flow: impl FnOnce(I) -> Result<O, FlowError>,
) -> Result<String, FlowError>
where
    I: DeserializeOwned,
    O: Serialize,
{
    let input = decode("inputs", inputs).map_err(FlowError::invalid_input)?;
    encode(&flow(input)?)
}

/// Runs an evaluation flow function over JSON.
pub fn run_evaluation<I>(
    inputs: &str,
    flow: impl FnOnce(I) -> Result<bool, FlowError>,
) -> Result<bool, FlowError>
where
    I: DeserializeOwned,
{
    flow(decode("inputs", inputs).map_err(FlowError::invalid_input)?)
}

/// Runs a screen flow's render function over JSON.
pub fn run_render<I>(
    inputs: &str,
    render: impl FnOnce(I) -> Result<Form, FlowError>,
) -> Result<Form, FlowError>
where
    I: DeserializeOwned,
{
    render(decode("inputs", inputs).map_err(FlowError::invalid_input)?)
}

/// Runs a screen flow's submit function over JSON. Answers that do not
/// deserialize are the assignee's to fix, so they come back as `Invalid`.
pub fn run_submit<I, A, O>(
    inputs: &str,
    answers: &str,
    submit: impl FnOnce(I, A) -> Result<O, SubmitError>,
) -> Result<String, SubmitError>
where
    I: DeserializeOwned,
    A: DeserializeOwned,
    O: Serialize,
{
    let input = decode("inputs", inputs).map_err(FlowError::invalid_input)?;
    let answers = decode("answers", answers)
        .map_err(|e| SubmitError::Invalid(vec![crate::FieldError::new("", e)]))?;
    Ok(encode(&submit(input, answers)?)?)
}

/// Exports `$run` as this component's autolaunched flow.
///
/// `$run` is a function `fn(I) -> Result<O, FlowError>` where `I: Deserialize`
/// and `O: Serialize`. See the crate documentation for a complete example.
#[macro_export]
macro_rules! autolaunched_flow {
    ($run:path) => {
        #[doc(hidden)]
        #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
        struct __StagecraftAutolaunchedFlow;

        impl $crate::__private::autolaunched::exports::stagecraft::flow::autolaunched::Guest
            for __StagecraftAutolaunchedFlow
        {
            fn run(
                inputs: ::std::string::String,
            ) -> ::std::result::Result<
                ::std::string::String,
                $crate::__private::autolaunched::stagecraft::flow::types::FlowError,
            > {
                $crate::__private::run_autolaunched(&inputs, $run)
                    .map_err(::std::convert::Into::into)
            }
        }

        // The generated export glue is necessarily `unsafe`; scope the allowance to it.
        // Exported only for wasm: a native build (unit tests, `cargo build` at
        // the workspace root) must not hand WIT export names to the host linker.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            $crate::__private::autolaunched::export_autolaunched!(__StagecraftAutolaunchedFlow);
        };
    };
}

/// Exports `$evaluate` as this component's evaluation flow.
///
/// `$evaluate` is a function `fn(I) -> Result<bool, FlowError>`; `true` means
/// the condition is met.
#[macro_export]
macro_rules! evaluation_flow {
    ($evaluate:path) => {
        #[doc(hidden)]
        #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
        struct __StagecraftEvaluationFlow;

        impl $crate::__private::evaluation::exports::stagecraft::flow::evaluation::Guest
            for __StagecraftEvaluationFlow
        {
            fn evaluate(
                inputs: ::std::string::String,
            ) -> ::std::result::Result<
                bool,
                $crate::__private::evaluation::stagecraft::flow::types::FlowError,
            > {
                $crate::__private::run_evaluation(&inputs, $evaluate)
                    .map_err(::std::convert::Into::into)
            }
        }

        // The generated export glue is necessarily `unsafe`; scope the allowance to it.
        // Exported only for wasm: a native build (unit tests, `cargo build` at
        // the workspace root) must not hand WIT export names to the host linker.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            $crate::__private::evaluation::export_evaluation!(__StagecraftEvaluationFlow);
        };
    };
}

/// Exports a screen flow made of a `render` and a `submit` function.
///
/// `render: fn(I) -> Result<Form, FlowError>` describes the form for the
/// step's inputs; `submit: fn(I, A) -> Result<O, SubmitError>` validates the
/// assignee's answers `A` and returns the step's outputs `O`.
#[macro_export]
macro_rules! screen_flow {
    (render = $render:path, submit = $submit:path $(,)?) => {
        #[doc(hidden)]
        #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
        struct __StagecraftScreenFlow;

        impl $crate::__private::screen::exports::stagecraft::flow::screen::Guest
            for __StagecraftScreenFlow
        {
            fn render(
                inputs: ::std::string::String,
            ) -> ::std::result::Result<
                $crate::__private::screen::exports::stagecraft::flow::screen::Form,
                $crate::__private::screen::stagecraft::flow::types::FlowError,
            > {
                $crate::__private::run_render(&inputs, $render)
                    .map($crate::__private::screen_form)
                    .map_err(::std::convert::Into::into)
            }

            fn submit(
                inputs: ::std::string::String,
                answers: ::std::string::String,
            ) -> ::std::result::Result<
                ::std::string::String,
                $crate::__private::screen::exports::stagecraft::flow::screen::SubmitError,
            > {
                $crate::__private::run_submit(&inputs, &answers, $submit)
                    .map_err($crate::__private::screen_submit_error)
            }
        }

        // The generated export glue is necessarily `unsafe`; scope the allowance to it.
        // Exported only for wasm: a native build (unit tests, `cargo build` at
        // the workspace root) must not hand WIT export names to the host linker.
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            $crate::__private::screen::export_screen!(__StagecraftScreenFlow);
        };
    };
}

pub use convert::{screen_form, screen_submit_error};

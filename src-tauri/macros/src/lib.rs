//! `#[command]`: a `#[tauri::command]` whose TypeScript signature is generated from the same
//! function, so the UI's argument names and types cannot drift from the Rust side.
//!
//! Next to `pub async fn name(state: State<'_, AppState>, conversation_id: String) ->
//! CommandResult<Vec<Message>>` it declares a module `name` (modules and functions live in
//! different namespaces) with `fn signature(&mut Signatures) -> String`, which renders
//! `name: { args: { conversation_id: string }; result: Array<Message> };`. Parameters that Tauri
//! injects (`State`, `AppHandle`, `Window`, `WebviewWindow`, `Webview`) are not arguments. A
//! `Channel<T>` argument (progress the command streams back) renders as `Channel<T>`, the
//! interface `ipc.ts` declares for Tauri's channel class; a `Parsed<T>` argument (checked at the
//! boundary, `src-tauri/src/parsed.rs`) renders as `T`.
//!
//! Every command also runs in a `tracing` span named after it, without its arguments, and its
//! error is logged when it fails.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned as _;
use syn::{FnArg, GenericArgument, ItemFn, Pat, PathArguments, ReturnType, Type, parse_macro_input};

const INJECTED: &[&str] = &["State", "AppHandle", "Window", "WebviewWindow", "Webview"];

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) => p.path.segments.last(),
        _ => None,
    }
}

/// `T` of `CommandResult<T>`.
fn result_type(output: &ReturnType) -> syn::Result<&Type> {
    let ReturnType::Type(_, ty) = output else {
        return Err(syn::Error::new(output.span(), "a command returns CommandResult<T>"));
    };
    match last_segment(ty) {
        Some(seg) if seg.ident == "CommandResult" => match &seg.arguments {
            PathArguments::AngleBracketed(args) => match args.args.first() {
                Some(GenericArgument::Type(t)) if args.args.len() == 1 => Ok(t),
                _ => Err(syn::Error::new(seg.span(), "CommandResult takes one type")),
            },
            _ => Err(syn::Error::new(seg.span(), "CommandResult takes one type")),
        },
        _ => Err(syn::Error::new(ty.span(), "a command returns CommandResult<T>")),
    }
}

/// `T` of `Wrapper<T>` when `ty` is one (`Channel<T>`, `Parsed<T>`).
fn wrapped<'a>(ty: &'a Type, wrapper: &str) -> Option<&'a Type> {
    let seg = last_segment(ty).filter(|s| s.ident == wrapper)?;
    match &seg.arguments {
        PathArguments::AngleBracketed(args) if args.args.len() == 1 => match args.args.first() {
            Some(GenericArgument::Type(t)) => Some(t),
            _ => None,
        },
        _ => None,
    }
}

fn expand(item: ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    let name = &item.sig.ident;
    let module = format_ident!("{}", name);
    let result = result_type(&item.sig.output)?;
    let mut names = Vec::new();
    let mut types = Vec::new();
    for input in &item.sig.inputs {
        let FnArg::Typed(arg) = input else {
            return Err(syn::Error::new(input.span(), "a command takes no self"));
        };
        if last_segment(&arg.ty).is_some_and(|s| INJECTED.iter().any(|i| s.ident == i)) {
            continue;
        }
        let Pat::Ident(ident) = &*arg.pat else {
            return Err(syn::Error::new(arg.pat.span(), "command arguments are plain names"));
        };
        names.push(ident.ident.to_string());
        types.push(match (wrapped(&arg.ty, "Channel"), wrapped(&arg.ty, "Parsed")) {
            (Some(payload), _) => quote! { format!("Channel<{}>", out.ts::<#payload>()) },
            (None, Some(value)) => quote! { out.ts::<#value>() },
            (None, None) => {
                let ty = &arg.ty;
                quote! { out.ts::<#ty>() }
            }
        });
    }
    let name_str = name.to_string();
    let vis = &item.vis;
    Ok(quote! {
        #[tauri::command(rename_all = "snake_case")]
        // Arguments are skipped: they may hold passwords or passphrases. A failure is logged at
        // info (a person's mistake is not a bug) with the error's code and sentence.
        #[tracing::instrument(skip_all, err(level = "info"))]
        #item

        #[doc(hidden)]
        #vis mod #module {
            #[allow(unused_imports)]
            use super::*;

            /// This command's entry in the UI's `Commands` table.
            pub fn signature(out: &mut crate::bindings::Signatures) -> String {
                let args: Vec<(&str, String)> = vec![#( (#names, #types) ),*];
                let result = out.ts::<#result>();
                out.entry(#name_str, &args, &result)
            }
        }
    })
}

/// A Tauri command with a generated TypeScript signature (see the crate docs).
#[proc_macro_attribute]
pub fn command(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(proc_macro2::Span::call_site(), "#[command] takes no arguments")
            .to_compile_error()
            .into();
    }
    let item = parse_macro_input!(item as ItemFn);
    expand(item).unwrap_or_else(syn::Error::into_compile_error).into()
}

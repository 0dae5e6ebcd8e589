//! Files on the room page: a posted file as a picture or a card
//! ([`AttachmentView`]), the large view of a room's pictures
//! ([`ImageViewer`]), and files on their way up ([`UploadTray`], with
//! [`upload`] doing the browser's part).
//!
//! Pictures are sized before they load (their width and height come with
//! the message), so nothing jumps; an animated GIF shows its still preview
//! until it is hovered, focused or opened.

use crate::protocol::Attachment;
use leptos::prelude::*;

/// A size as people read it: "312 KB", "3.4 MB".
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KB", "MB", "GB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} {}", if bytes == 1 { "byte" } else { "bytes" })
    } else if size < 10.0 {
        format!("{size:.1} {}", UNITS[unit])
    } else {
        format!("{size:.0} {}", UNITS[unit])
    }
}

/// The displayed box of a picture at most `max` a side, keeping its shape.
fn fitted(width: u32, height: u32, max: u32) -> (u32, u32) {
    if width <= max && height <= max {
        return (width.max(1), height.max(1));
    }
    let scale = f64::from(max) / f64::from(width.max(height));
    (
        ((f64::from(width) * scale).round() as u32).max(1),
        ((f64::from(height) * scale).round() as u32).max(1),
    )
}

/// Longest side of a picture in the conversation, in CSS pixels (CSS also
/// caps it to the column's width).
const INLINE_SIDE: u32 = 360;

/// A posted file: a picture that opens large (`open` gets its id), or a card
/// that downloads it.
#[component]
pub fn AttachmentView(file: Attachment, open: Callback<String>) -> impl IntoView {
    if file.is_image() {
        let (width, height) = fitted(
            file.width.unwrap_or(INLINE_SIDE),
            file.height.unwrap_or(INLINE_SIDE),
            INLINE_SIDE,
        );
        let still = file.preview_url();
        let moving = file.url();
        // An animation plays while hovered or focused, else shows its still.
        let playing = RwSignal::new(false);
        let animated = file.animated;
        let src = move || {
            if animated && playing.get() {
                moving.clone()
            } else {
                still.clone()
            }
        };
        let label = format!("Open image {}", file.name);
        let id = file.id.clone();
        view! {
            <button type="button" class="attachment image" aria-label=label title=file.name.clone()
                on:click=move |_| open.run(id.clone())
                on:mouseenter=move |_| playing.set(true) on:mouseleave=move |_| playing.set(false)
                on:focus=move |_| playing.set(true) on:blur=move |_| playing.set(false)>
                // Sized before it loads by its width and height attributes
                // (with `height: auto`, browsers take the ratio from them; an
                // inline style would be refused by the page's CSP).
                <img src=src alt=file.name.clone() width=width height=height loading="lazy"/>
                {animated.then(|| view! { <span class="gif-badge" aria-hidden="true">"GIF"</span> })}
            </button>
        }
        .into_any()
    } else {
        let size = human_size(file.size);
        let kind = file_kind(&file.mime, &file.name);
        let label = format!("{}, {size}", file.name);
        view! {
            <a class="attachment file" href=file.url() download=file.name.clone() aria-label=label>
                <span class="file-icon" aria-hidden="true">"📄"</span>
                <span class="file-name">{file.name.clone()}</span>
                <span class="file-meta">{format!("{kind} · {size}")}</span>
            </a>
        }
        .into_any()
    }
}

/// A short type for a file card: its extension, else its type's last part.
fn file_kind(mime: &str, name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && (1..=8).contains(&ext.len()) => ext.to_uppercase(),
        _ => mime.rsplit('/').next().unwrap_or("file").to_uppercase(),
    }
}

/// The room's pictures, large, one at a time: a modal dialog named "Image
/// viewer". Escape or "Close" closes it; the arrow keys go to the previous
/// and next picture in the room.
#[component]
pub fn ImageViewer(
    /// The picture shown (its attachment id); `None` when closed.
    viewing: RwSignal<Option<String>>,
    /// The room's pictures in the order they were posted.
    #[prop(into)]
    images: Signal<Vec<Attachment>>,
) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    crate::components::modal_follows(dialog, move || viewing.get().is_some());
    let current = Memo::new(move |_| {
        let id = viewing.get()?;
        images.with(|all| {
            let at = all.iter().position(|a| a.id == id)?;
            Some((at, all.len(), all[at].clone()))
        })
    });
    let step = move |by: isize| {
        let Some((at, count, _)) = current.get_untracked() else {
            return;
        };
        let next = at as isize + by;
        if (0..count as isize).contains(&next) {
            let id = images.with_untracked(|all| all[next as usize].id.clone());
            viewing.set(Some(id));
        }
    };
    view! {
        <dialog class="viewer" aria-label="Image viewer" node_ref=dialog
            on:close=move |_| viewing.set(None)
            on:keydown=move |ev| match ev.key().as_str() {
                "ArrowLeft" => { ev.prevent_default(); step(-1); }
                "ArrowRight" => { ev.prevent_default(); step(1); }
                _ => {}
            }>
            {move || current.get().map(|(at, count, file)| {
                let (width, height) = (file.width.unwrap_or(800), file.height.unwrap_or(600));
                view! {
                    <figure>
                        <img src=file.url() alt=file.name.clone() width=width height=height/>
                        <figcaption>
                            <span class="viewer-name">{file.name.clone()}</span>
                            <span class="viewer-count">{format!("{} of {count}", at + 1)}</span>
                            <a href=file.url() download=file.name.clone()>"Download"</a>
                        </figcaption>
                    </figure>
                }
            })}
            <div class="viewer-nav">
                <button type="button" class="ghost" aria-label="Previous image"
                    disabled=move || current.get().is_none_or(|(at, _, _)| at == 0)
                    on:click=move |_| step(-1)>"‹"</button>
                <button type="button" class="ghost" aria-label="Next image"
                    disabled=move || current.get().is_none_or(|(at, count, _)| at + 1 >= count)
                    on:click=move |_| step(1)>"›"</button>
                <button type="button" class="close" autofocus on:click=move |_| viewing.set(None)>"Close"</button>
            </div>
        </dialog>
    }
}

/// A file on its way up, as the tray shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Uploading {
    pub key: u32,
    pub name: String,
    pub size: u64,
    /// Bytes sent so far.
    pub sent: u64,
    /// Why it failed; it then stays until dismissed.
    pub failed: Option<String>,
}

/// Files on their way up: a progress bar each (named by the file) with
/// "Cancel upload", or why it failed with "Dismiss". A row stays while its
/// upload moves on, so focus on its button survives progress.
#[component]
pub fn UploadTray(uploads: RwSignal<Vec<Uploading>>, cancel: Callback<u32>) -> impl IntoView {
    view! {
        <Show when=move || !uploads.with(Vec::is_empty)>
            <ul class="uploads" aria-label="Uploads">
                <For each=move || uploads.get() key=|u| u.key let:upload>
                    <UploadRow key=upload.key name=upload.name size=upload.size uploads cancel/>
                </For>
            </ul>
        </Show>
    }
}

#[component]
fn UploadRow(
    key: u32,
    name: String,
    size: u64,
    uploads: RwSignal<Vec<Uploading>>,
    cancel: Callback<u32>,
) -> impl IntoView {
    let state =
        Memo::new(move |_| uploads.with(|all| all.iter().find(|u| u.key == key).map(|u| (u.sent, u.failed.clone()))));
    let sent = move || state.with(|s| s.as_ref().map_or(0, |(sent, _)| *sent));
    let failed = Memo::new(move |_| state.with(|s| s.as_ref().and_then(|(_, failed)| failed.clone())));
    let label = name.clone();
    view! {
        <li class="upload" class:failed=move || failed.with(Option::is_some)>
            <span class="upload-name">{name.clone()}</span>
            {move || match failed.get() {
                None => view! {
                    <progress aria-label=label.clone() max=size.max(1) value=sent></progress>
                    <button type="button" class="ghost small" aria-label="Cancel upload"
                        title=format!("Cancel uploading {label}")
                        on:click=move |_| cancel.run(key)>"✕"</button>
                }.into_any(),
                Some(why) => view! {
                    <span class="error" role="alert">{format!("Not uploaded: {why}")}</span>
                    <button type="button" class="ghost small" on:click=move |_| cancel.run(key)>"Dismiss"</button>
                }.into_any(),
            }}
        </li>
    }
}

/// Files the person picked, pasted or dropped (only ever filled in the browser).
#[derive(Default)]
pub struct Picked(#[cfg(feature = "hydrate")] pub Vec<web_sys::File>);

impl Picked {
    pub fn is_empty(&self) -> bool {
        #[cfg(feature = "hydrate")]
        return self.0.is_empty();
        #[cfg(not(feature = "hydrate"))]
        true
    }
}

#[cfg(feature = "hydrate")]
fn listed(files: Option<web_sys::FileList>) -> Picked {
    let Some(files) = files else { return Picked::default() };
    Picked((0..files.length()).filter_map(|i| files.get(i)).collect())
}

/// The files in a paste (a screenshot copied to the clipboard).
pub fn pasted_files(ev: &leptos::ev::ClipboardEvent) -> Picked {
    #[cfg(feature = "hydrate")]
    return listed(ev.clipboard_data().and_then(|data| data.files()));
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ev;
        Picked::default()
    }
}

/// Whether a drag carries files (and so may be dropped on the conversation).
pub fn carries_files(ev: &leptos::ev::DragEvent) -> bool {
    #[cfg(feature = "hydrate")]
    return ev
        .data_transfer()
        .is_some_and(|data| data.types().includes(&wasm_bindgen::JsValue::from_str("Files"), 0));
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ev;
        false
    }
}

/// The files dropped.
pub fn dropped_files(ev: &leptos::ev::DragEvent) -> Picked {
    #[cfg(feature = "hydrate")]
    return listed(ev.data_transfer().and_then(|data| data.files()));
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ev;
        Picked::default()
    }
}

/// The files chosen in the file input; the input is emptied, so the same
/// file can be chosen again.
pub fn chosen_files(input: NodeRef<leptos::html::Input>) -> Picked {
    #[cfg(feature = "hydrate")]
    {
        let Some(el) = input.get_untracked() else {
            return Picked::default();
        };
        let picked = listed(el.files());
        el.set_value("");
        picked
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = input;
        Picked::default()
    }
}

/// Opens the browser's file chooser of `input`.
pub fn open_file_picker(input: NodeRef<leptos::html::Input>) {
    if let Some(el) = input.get_untracked() {
        el.click();
    }
}

/// The page's uploads: `attach` starts one per picked file (each shown in
/// `uploads`, refused at once if larger than `max` bytes), and `post`s each
/// as it finishes — the first of a batch with the composer's text of the
/// moment, if any; `cancel` stops one (or dismisses a failed one).
pub fn uploader(
    uploads: RwSignal<Vec<Uploading>>,
    max: u64,
    draft: RwSignal<String>,
    post: impl Fn(Attachment, String) + Copy + Send + Sync + 'static,
) -> (Callback<Picked>, Callback<u32>) {
    #[cfg(feature = "hydrate")]
    let requests = StoredValue::new_local(std::collections::HashMap::<u32, web_sys::XmlHttpRequest>::new());
    let next = StoredValue::new(0u32);
    let set = move |key: u32, change: &dyn Fn(&mut Uploading)| {
        uploads.update(|all| {
            if let Some(upload) = all.iter_mut().find(|u| u.key == key) {
                change(upload);
            }
        });
    };
    let attach = Callback::new(move |picked: Picked| {
        #[cfg(feature = "hydrate")]
        {
            let text = draft.get_untracked();
            let mut caption = crate::validate::MessageBody::parse_caption(&text)
                .map(crate::validate::MessageBody::into_inner)
                .unwrap_or_default();
            for file in picked.0 {
                let key = next.get_value();
                next.set_value(key.wrapping_add(1));
                let size = file.size() as u64;
                uploads.update(|all| {
                    all.push(Uploading {
                        key,
                        name: file.name(),
                        size,
                        sent: 0,
                        failed: None,
                    })
                });
                if size > max {
                    let why = format!("it is too big: files are limited to {}.", human_size(max));
                    set(key, &|u| u.failed = Some(why.clone()));
                    continue;
                }
                let caption = std::mem::take(&mut caption);
                let started = upload::start(
                    &file,
                    move |sent| set(key, &|u| u.sent = sent),
                    move |outcome| {
                        requests.update_value(|r| {
                            r.remove(&key);
                        });
                        match outcome {
                            Ok(file) => {
                                uploads.update(|all| all.retain(|u| u.key != key));
                                post(file, caption);
                            }
                            Err(why) => set(key, &|u| u.failed = Some(why.clone())),
                        }
                    },
                );
                match started {
                    Ok(request) => requests.update_value(|r| {
                        r.insert(key, request);
                    }),
                    Err(why) => set(key, &|u| u.failed = Some(why.clone())),
                }
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (picked, draft, max, post, next, set);
    });
    let cancel = Callback::new(move |key: u32| {
        #[cfg(feature = "hydrate")]
        if let Some(request) = requests.try_update_value(|r| r.remove(&key)).flatten() {
            let _ = request.abort();
        }
        uploads.update(|all| all.retain(|u| u.key != key));
    });
    (attach, cancel)
}

/// The browser's part of an upload: one `POST /api/uploads` per file, by
/// XMLHttpRequest (fetch reports no upload progress).
#[cfg(feature = "hydrate")]
pub mod upload {
    use crate::protocol::{ApiError, Attachment};
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{File, ProgressEvent, XmlHttpRequest};

    /// Starts uploading `file`: `progress` hears the bytes sent so far,
    /// `done` the outcome (not called if cancelled). The request is returned
    /// to cancel it with (`abort`).
    pub fn start(
        file: &File,
        progress: impl Fn(u64) + 'static,
        done: impl FnOnce(Result<Attachment, String>) + 'static,
    ) -> Result<XmlHttpRequest, String> {
        let failed = |_| "the browser could not start the upload.".to_owned();
        let xhr = XmlHttpRequest::new().map_err(failed)?;
        let url = format!("/api/uploads?name={}", crate::validate::path_segment(&file.name()));
        xhr.open("POST", &url).map_err(failed)?;
        let on_progress = Closure::<dyn Fn(ProgressEvent)>::new(move |ev: ProgressEvent| progress(ev.loaded() as u64));
        if let Ok(upload) = xhr.upload() {
            upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
        }
        // Either ending calls `done` once; the closures then go with the request.
        let done = std::rc::Rc::new(std::cell::RefCell::new(Some(done)));
        let finished = {
            let xhr = xhr.clone();
            let done = done.clone();
            Closure::<dyn Fn()>::new(move || {
                let Some(done) = done.borrow_mut().take() else { return };
                let status = xhr.status().unwrap_or(0);
                let text = xhr.response_text().ok().flatten().unwrap_or_default();
                done(outcome(status, &text));
            })
        };
        let lost = Closure::<dyn Fn()>::new(move || {
            if let Some(done) = done.borrow_mut().take() {
                done(Err("the connection was lost. Please try again.".into()));
            }
        });
        xhr.set_onload(Some(finished.as_ref().unchecked_ref()));
        xhr.set_onerror(Some(lost.as_ref().unchecked_ref()));
        // Owned by the request from here: freed with it by the JS collector.
        on_progress.into_js_value();
        finished.into_js_value();
        lost.into_js_value();
        xhr.send_with_opt_blob(Some(file)).map_err(failed)?;
        Ok(xhr)
    }

    fn outcome(status: u16, text: &str) -> Result<Attachment, String> {
        if status == 201 {
            return serde_json::from_str(text).map_err(|_| "the server's answer was not understood.".to_owned());
        }
        match serde_json::from_str::<ApiError>(text) {
            Ok(error) => Err(error.message),
            Err(_) => Err(format!("the server answered {status}. Please try again.")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(3_400_000), "3.4 MB");
        assert_eq!(human_size(25_000_000), "25 MB");
    }

    #[test]
    fn pictures_keep_their_shape_when_fitted() {
        assert_eq!(fitted(3024, 4032, 360), (270, 360));
        assert_eq!(fitted(200, 100, 360), (200, 100));
        assert_eq!(fitted(20_000, 1, 360), (360, 1));
    }

    #[test]
    fn a_file_card_names_its_kind() {
        assert_eq!(file_kind("application/pdf", "report.pdf"), "PDF");
        assert_eq!(file_kind("application/octet-stream", "notes"), "OCTET-STREAM");
        assert_eq!(file_kind("text/plain", ".bashrc"), "PLAIN");
    }
}

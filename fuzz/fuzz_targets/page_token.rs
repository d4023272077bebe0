//! Fuzzes page tokens: `PageTokenKey::open` on any text, tokens `seal` makes, and the tokens
//! `list_tasks` (what `ListTasks` runs) hands out and reads back.
//!
//! Input: bytes 0 to 7 an offset, byte 8 a page size, bytes 9 and 10 an edit (position and
//! replacement), the rest a scope; the whole input, as text, is also tried as a token.
//!
//! Asserts, beyond "no panic":
//! - a token that opens re-seals to the very same text (one token per offset and scope);
//! - a sealed token is 55 URL-safe characters, opens to its offset with its key and scope, and
//!   is refused with another key, another scope, truncated, or with any character changed;
//! - `list_tasks` refuses any token it did not hand out for that listing (`page_token`), accepts
//!   those it did, and refuses one of them edited unless the edit changed nothing.
#![no_main]

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use todo_core::{InvalidPageToken, PageTokenKey, UserId, list_tasks};
use todo_proto::todo::v1::{ListTasksRequest, Task, TaskStatus};

/// What a sealed token may contain: URL-safe base64.
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Replacements an edit may use: the alphabet, padding, standard base64 and a multi-byte char.
const REPLACEMENTS: [&str; 5] = ["=", "+", "/", "é", " "];
/// Length of a sealed token: 41 bytes of URL-safe base64 without padding.
const TOKEN_CHARS: usize = 55;
const USER: &str = "5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a";
/// The listing's `now`: 2026-03-29T09:00:00Z.
const NOW_SECONDS: i64 = 1_774_774_800;
/// Tasks to page through: more than one page at any size below it.
const TASK_COUNT: u8 = 7;

static KEY: LazyLock<PageTokenKey> =
    LazyLock::new(|| PageTokenKey::new([7_u8; 32]).expect("32 bytes is long enough"));
static OTHER_KEY: LazyLock<PageTokenKey> =
    LazyLock::new(|| PageTokenKey::new([8_u8; 32]).expect("32 bytes is long enough"));
static TASKS: LazyLock<Vec<Task>> = LazyLock::new(|| (0..TASK_COUNT).map(task).collect());
/// Every token `list_tasks` hands out for the default listing of [`TASKS`] (offsets 1 to 6): the
/// fuzzer sees them in comparisons and may feed them back, so they are not forgeries.
static HANDED_OUT: LazyLock<Vec<String>> = LazyLock::new(|| {
    let user = UserId::parse(USER).expect("a valid user id");
    let mut tokens = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = ListTasksRequest {
            page_size: 1,
            page_token,
            ..ListTasksRequest::default()
        };
        let page = list_tasks(&TASKS, &request, &user, &KEY, utc(NOW_SECONDS)).expect("a page");
        if page.next_page_token.is_empty() {
            return tokens;
        }
        page_token = page.next_page_token.clone();
        tokens.push(page.next_page_token);
    }
});

fuzz_target!(|input: &[u8]| {
    opening_any_text(input);
    let Some((offset, rest)) = input.split_first_chunk::<8>() else {
        return;
    };
    let (page_size, edit, scope) = match rest {
        [page_size, position, replacement, scope @ ..] => {
            (*page_size, (*position, *replacement), scope)
        }
        _ => return,
    };
    sealed_tokens(u64::from_be_bytes(*offset), scope, edit);
    listing(page_size, edit, &String::from_utf8_lossy(scope));
});

/// Any text: opening never panics, and what opens re-seals identically.
fn opening_any_text(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    for scope in [&b""[..], input] {
        if let Ok(offset) = KEY.open(&text, scope) {
            assert_eq!(KEY.seal(offset, scope), text, "a token that opens re-seals");
        }
    }
}

fn sealed_tokens(offset: u64, scope: &[u8], edit: (u8, u8)) {
    let token = KEY.seal(offset, scope);
    assert_eq!(token.len(), TOKEN_CHARS, "{token}");
    assert!(
        token.bytes().all(|byte| ALPHABET.contains(&byte)),
        "{token}"
    );
    assert_eq!(KEY.open(&token, scope), Ok(offset));
    assert_eq!(OTHER_KEY.open(&token, scope), Err(InvalidPageToken));
    let longer_scope = [scope, b"\0"].concat();
    assert_eq!(KEY.open(&token, &longer_scope), Err(InvalidPageToken));
    let cut = usize::from(edit.0) % TOKEN_CHARS;
    assert_eq!(
        KEY.open(token.get(..cut).unwrap_or_default(), scope),
        Err(InvalidPageToken),
        "a truncated token"
    );
    let edited = edited(&token, edit);
    if edited != token {
        assert_eq!(KEY.open(&edited, scope), Err(InvalidPageToken), "{edited}");
    }
}

/// Replaces one character of `token`, chosen by `edit`.
fn edited(token: &str, (position, replacement): (u8, u8)) -> String {
    let position = usize::from(position) % token.len();
    let replacement = match ALPHABET.get(usize::from(replacement)) {
        Some(byte) => char::from(*byte).to_string(),
        None => REPLACEMENTS[usize::from(replacement) % REPLACEMENTS.len()].to_string(),
    };
    let mut edited = token.to_string();
    edited.replace_range(position..=position, &replacement);
    edited
}

/// Lists [`TASKS`] with `text` as the page token, then with an edited genuine one.
fn listing(page_size: u8, edit: (u8, u8), text: &str) {
    let user = UserId::parse(USER).expect("a valid user id");
    let now = utc(NOW_SECONDS);
    let request = ListTasksRequest {
        page_size: i32::from(page_size % (TASK_COUNT - 1)) + 1,
        ..ListTasksRequest::default()
    };
    let with_token = |page_token: &str| ListTasksRequest {
        page_token: page_token.into(),
        ..request.clone()
    };
    if !text.is_empty() {
        let listed = list_tasks(&TASKS, &with_token(text), &user, &KEY, now);
        if HANDED_OUT.iter().any(|token| token == text) {
            assert!(listed.is_ok(), "a token list_tasks gave for this listing");
        } else {
            let fields = listed.as_ref().map_err(|error| error.fields());
            assert_eq!(
                fields,
                Err(vec!["page_token"]),
                "a token list_tasks never gave"
            );
        }
    }
    let first = list_tasks(&TASKS, &request, &user, &KEY, now).expect("a valid first page");
    let token = first.next_page_token;
    assert_eq!(token.len(), TOKEN_CHARS, "seven tasks need a second page");
    let second = list_tasks(&TASKS, &with_token(&token), &user, &KEY, now);
    assert!(second.is_ok(), "the token it gave opens");
    let other_query = ListTasksRequest {
        query: "water".into(),
        ..with_token(&token)
    };
    assert!(list_tasks(&TASKS, &other_query, &user, &KEY, now).is_err());
    let edited = edited(&token, edit);
    let opened = list_tasks(&TASKS, &with_token(&edited), &user, &KEY, now);
    assert_eq!(opened.is_ok(), edited == token, "edited token {edited}");
}

fn task(index: u8) -> Task {
    Task {
        id: format!("00000000-0000-4000-8000-0000000000{index:02x}"),
        user_id: USER.into(),
        title: format!("task {index}"),
        status: TaskStatus::Open as i32,
        version: 1,
        create_time: Some(todo_core::wire_time::utc_to_timestamp(utc(
            1_772_323_200 + i64::from(index)
        ))),
        ..Task::default()
    }
}

fn utc(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("a time in range")
}

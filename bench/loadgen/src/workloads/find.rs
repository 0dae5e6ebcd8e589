//! `search`: how long a message search takes over a big history (by default 1,000,000
//! messages in 20 public rooms, half English and half Chinese), through `/api/search` as
//! the search page asks it. Natter only: the peer has no search.
//!
//! The messages are seeded straight into the database (idempotently: only what is
//! missing), by an author who cannot log in, and then indexed with `--index-command`
//! (the server's `rebuild-search`, as an operator would after restoring a backup); its
//! time is reported too. Words follow Zipf's law, as in real text (the commonest
//! English word is in most messages); queries pick words uniformly from the vocabulary,
//! as people search for the specific, and alternate English and Chinese, one word or two.

use super::closed;
use super::seed::{author, database, messages, now_ms, public_room};
use crate::cli::{Common, SearchArgs};
use crate::stats::Summary;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sqlx::MySqlPool;
use std::time::Instant;

/// The seeded messages' author: a user who cannot log in (no password hash matches `!`).
const AUTHOR: &str = "search-author";
/// Distinct words of each language.
const VOCABULARY: u64 = 5_000;
/// Common Chinese characters: two-character words are made of them.
const HANZI: &str = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严";

pub async fn run(common: &Common, args: &SearchArgs) -> Result<Value> {
    let (target, credential, _) = closed::natter_user(common, "search").await?;
    let pool = database(&args.database_url).await?;
    let seeding = Instant::now();
    let inserted = seed(&pool, &common.room_prefix, args).await?;
    pool.close().await;
    let seed_secs = seeding.elapsed().as_secs_f64();
    eprintln!(
        "search: {} messages ready ({inserted} inserted) in {seed_secs:.1} s",
        args.messages
    );
    let mut index_secs = None;
    if inserted > 0 || args.reindex {
        let Some(command) = &args.index_command else {
            bail!("{inserted} messages were inserted but no --index-command was given to index them");
        };
        let indexing = Instant::now();
        let status = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .status()
            .await
            .with_context(|| format!("running {command}"))?;
        if !status.success() {
            bail!("{command} failed: {status}");
        }
        let secs = indexing.elapsed().as_secs_f64();
        eprintln!("search: indexed in {secs:.1} s");
        index_secs = Some(secs);
    }

    // Query n of each worker: its language alternates, every third is two words.
    let query = |worker: usize, n: u64| {
        let mut rng = Rng(worker as u64 * 1_000_003 + n);
        let chinese = n % 2 == 1;
        let words = if n % 3 == 2 { 2 } else { 1 };
        (0..words)
            .map(|_| {
                let w = rng.below(VOCABULARY);
                if chinese { hanzi_word(w) } else { english_word(w) }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let hits = std::sync::atomic::AtomicU64::new(0);
    let ask = |worker: usize, n: u64| {
        let (target, credential, hits) = (&target, &credential, &hits);
        let words = query(worker, n);
        async move {
            match target.search(credential, &words).await {
                Ok(found) => {
                    hits.fetch_add(found as u64, std::sync::atomic::Ordering::Relaxed);
                    Ok(())
                }
                Err(e) => Err(format!("{words:?}: {e:#}")),
            }
        }
    };
    if args.run.warmup_secs > 0.0 {
        closed::run(args.run.concurrency, args.run.warmup_secs, ask).await;
    }
    hits.store(0, std::sync::atomic::Ordering::Relaxed);
    let watched = common.watched();
    let before = watched.read();
    let tally = closed::run(args.run.concurrency, args.run.secs, ask).await;
    let after = watched.read();
    let latency = Summary::of(&tally.latency);
    let server = before.server_until(&after);
    let (ok, errors, secs) = (tally.ok, tally.errors, tally.secs);
    let hits = hits.into_inner();
    eprintln!(
        "search: {ok} searches in {secs:.1} s ({:.0}/s, {} in flight, {:.1} results each): p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms; {errors} errors",
        ok as f64 / secs,
        args.run.concurrency,
        if ok == 0 { 0.0 } else { hits as f64 / ok as f64 },
        latency.p50_ms,
        latency.p99_ms,
        latency.p999_ms,
    );
    if let Some(e) = &tally.first_error {
        eprintln!("  first problem: {e}");
    }
    Ok(json!({
        "workload": "search",
        "target": common.target,
        "messages": args.messages,
        "rooms": args.rooms,
        "concurrency": args.run.concurrency,
        "seed_secs": seed_secs,
        "index_secs": index_secs,
        "secs": secs,
        "searches": ok,
        "searches_per_s": ok as f64 / secs,
        "results_per_search": if ok == 0 { 0.0 } else { hits as f64 / ok as f64 },
        "errors": errors,
        "first_error": tally.first_error,
        "latency": latency,
        "server": server,
        "server_cpu_us_per_search": server.as_ref().map(|s| if ok == 0 { 0.0 } else { s.cpu_s * 1e6 / ok as f64 }),
        "others": before.others_until(&after).into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        "valid": true,
        "pass": errors == 0 && ok > 0,
    }))
}

/// splitmix64: a fixed, seedable sequence, so every run seeds the same text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// A word index by Zipf's law (rank k about as likely as 1/k).
    fn zipf(&mut self, n: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) as u64).saturating_sub(1).min(n - 1)
    }
}

/// English-looking word `k`: syllables of a consonant and a vowel.
fn english_word(k: u64) -> String {
    const CONSONANTS: &[u8] = b"bcdfghjklmnprstvwz";
    const VOWELS: &[u8] = b"aeiou";
    let mut k = k + 90; // at least two syllables
    let mut word = String::new();
    while k > 0 {
        let s = k % 90;
        word.push(CONSONANTS[(s / 5) as usize] as char);
        word.push(VOWELS[(s % 5) as usize] as char);
        k /= 90;
    }
    word
}

/// Chinese word `k`: two common characters.
fn hanzi_word(k: u64) -> String {
    let chars: Vec<char> = HANZI.chars().collect();
    let n = chars.len() as u64;
    [chars[(k % n) as usize], chars[((k / n + k * 7) % n) as usize]]
        .iter()
        .collect()
}

/// Message `seq` of room `room`: 6–10 English words, or 5–9 Chinese ones written
/// together, as their writers do.
fn body(room: i64, seq: i64) -> String {
    let mut rng = Rng((room as u64) << 32 | seq as u64);
    if seq % 2 == 0 {
        let n = 6 + rng.below(5);
        let words: Vec<String> = (0..n).map(|_| english_word(rng.zipf(VOCABULARY))).collect();
        words.join(" ")
    } else {
        let n = 5 + rng.below(5);
        let mut text: String = (0..n).map(|_| hanzi_word(rng.zipf(VOCABULARY))).collect();
        text.push('。');
        text
    }
}

/// Seeds what is missing; returns how many messages it inserted.
async fn seed(pool: &MySqlPool, prefix: &str, args: &SearchArgs) -> Result<i64> {
    let now = now_ms();
    let author_id = author(pool, AUTHOR).await?;
    let per_room = args.messages / args.rooms.max(1);
    let mut inserted = 0;
    for i in 0..args.rooms {
        let name = format!("{prefix}-find-{i}");
        let (room, last) = public_room(pool, &name, author_id, now).await?;
        for chunk in ((last + 1)..=per_room).collect::<Vec<_>>().chunks(2_000) {
            let (newest, room_text) = (now - per_room + chunk.last().copied().unwrap_or(0), |seq| {
                body(room, seq)
            });
            messages(
                pool,
                (room, author_id),
                chunk,
                newest,
                |seq| format!("find-{room}-{seq}"),
                room_text,
            )
            .await?;
            inserted += i64::try_from(chunk.len()).unwrap_or(0);
        }
    }
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_the_same_every_run_and_the_words_vary() {
        assert_eq!(body(3, 10), body(3, 10));
        assert_ne!(body(3, 10), body(3, 12));
        assert!(body(1, 1).ends_with('。'));
        let words: std::collections::HashSet<String> = (0..VOCABULARY).map(english_word).collect();
        assert_eq!(words.len() as u64, VOCABULARY);
        assert_eq!(hanzi_word(7).chars().count(), 2);
        let mut rng = Rng(1);
        let ranks: Vec<u64> = (0..10_000).map(|_| rng.zipf(VOCABULARY)).collect();
        let top = ranks.iter().filter(|&&k| k == 0).count();
        assert!(top > 500 && top < 2_000, "rank 0 drawn {top} times in 10,000");
        assert!(ranks.iter().all(|&k| k < VOCABULARY));
    }
}

//! Demux, decode, sample, hash: one video, streaming, in bounded memory.
//!
//! Why it is shaped like this: decoding every frame is the floor of the
//! conformant mode's cost, so everything else gets out of its way. Only the
//! sampled frames are handed on (a reference to the decoder's buffer, no
//! copy), and with more than one thread they go through a channel of two
//! frames to a hashing thread, so RGB conversion and PDQ overlap with
//! decoding; at most a few frames are alive at any time, whatever the
//! length of the video.
//!
//! Damage is survived, not fatal: a packet the decoder rejects is counted in
//! `frames_lost` and decoding goes on. Limits are checked before decoding
//! (declared size and duration) and while decoding (wall clock, decoded
//! duration).

use super::avio::{CustomInput, OpenError, ReadSeek};
use super::frames::{FrameHasher, HashedFrames, Sampled};
use super::huge_frames::HugeFrames;
use super::rate::{self, CliRate};
use super::sampler::{self, ByTime, EveryNth};
use super::tmk_frames;
use super::{FastMode, VideoOptions};
use crate::error::{ErrorKind, ItemError};
use crate::pdq::PdqHasher;
use crate::record::{FileRecord, VideoFacts};
use crate::views::ViewSet;
use ffmpeg_next::codec::{self, threading};
use ffmpeg_next::ffi;
use ffmpeg_next::format::stream::Disposition;
use ffmpeg_next::media::Type;
use ffmpeg_next::util::frame::video::Video;
use ffmpeg_next::{Discard, Packet, Rational};
use std::time::Instant;

/// Consecutive demuxer errors after which we give up on a file.
const MAX_READ_ERRORS: u32 = 64;

/// FFmpeg must never print: the library does not (once per process).
fn quiet_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fills ffmpeg-next's error message table (it cannot fail on the
        // FFmpeg versions we build against; if it did, messages are empty).
        let _ = ffmpeg_next::init();
        // SAFETY: sets a global integer in libavutil.
        unsafe { ffi::av_log_set_level(ffi::AV_LOG_QUIET) };
    });
}

fn open_error(e: OpenError, timeout_secs: f64) -> ItemError {
    match e {
        OpenError::Io(e) => ItemError::io("read", &e),
        OpenError::Interrupted => ItemError::new(
            ErrorKind::Timeout,
            format!("gave up after {timeout_secs} s while opening the video"),
        ),
        OpenError::Alloc => ItemError::new(ErrorKind::Limit, e.to_string()),
        OpenError::Format(_) => ItemError::new(ErrorKind::Decode, e.to_string()),
    }
}

fn seconds(ts: i64, tb: Rational) -> Option<f64> {
    (tb.denominator() != 0 && ts != ffi::AV_NOPTS_VALUE)
        .then(|| ts as f64 * tb.numerator() as f64 / tb.denominator() as f64)
}

/// A new reference to `f`'s buffers (no pixel copy).
fn frame_ref(f: &Video) -> Result<Video, ItemError> {
    let mut v = Video::empty();
    // SAFETY: both frames are valid; av_frame_ref only adds references.
    let r = unsafe { ffi::av_frame_ref(v.as_mut_ptr(), f.as_ptr()) };
    if r < 0 {
        return Err(ItemError::new(
            ErrorKind::Limit,
            "out of memory referencing a frame",
        ));
    }
    Ok(v)
}

/// Where sampled frames go: hashed inline, or sent to the hashing thread.
type Sink<'s> = dyn FnMut(Sampled) -> Result<(), ItemError> + 's;

/// Counters of one decode.
#[derive(Default)]
struct Counts {
    decoded: u64,
    lost: u64,
    packets: u64,
}

/// TMK's frame choice: the ffmpeg CLI's `-r 15` over every decoded frame
/// (see [`rate`]), with what it needs to know of the stream.
struct TmkChoice {
    rate: CliRate,
    time_base: ffi::AVRational,
    /// The CLI's input offset (minus the container's start time), in
    /// stream time-base units, added to every timestamp.
    offset: i64,
    /// The stream's frame rate as the CLI guesses it
    /// (`av_guess_frame_rate`).
    frame_rate: Option<(i32, i32)>,
    stream_has_start_time: bool,
    /// The frame decoded before (the CLI's `last_frame`): a gap repeats it.
    last: Option<Video>,
}

impl TmkChoice {
    /// How many times `frame`, and the frame before it, are written.
    fn pick(&mut self, frame: &Video) -> rate::Pick {
        // SAFETY: plain reads of a valid frame; av_rescale_q is pure.
        let (ticks, pkt_duration) = unsafe {
            let p = frame.as_ptr();
            let pts = (*p).best_effort_timestamp;
            let ticks = (pts != ffi::AV_NOPTS_VALUE).then(|| {
                let out = ffi::AVRational {
                    num: 1,
                    den: rate::OUTPUT_FPS << rate::EXTRA_BITS,
                };
                ffi::av_rescale_q(pts + self.offset, self.time_base, out)
            });
            (ticks, (*p).pkt_duration)
        };
        let duration = rate::frame_duration(
            self.frame_rate,
            self.stream_has_start_time,
            pkt_duration,
            (self.time_base.num, self.time_base.den),
        );
        self.rate.frame(rate::sync_ipts(ticks), duration)
    }
}

/// Which frames to take.
enum Sampler {
    Conformant(EveryNth),
    Fast(ByTime),
}

struct Decode<'i, 'a> {
    input: &'i mut CustomInput<'a>,
    decoder: codec::decoder::Video,
    /// The decoder's frame buffers, when in huge pages. Declared after
    /// `decoder` so that it is dropped after it: the codec context calls
    /// into it until it is freed.
    _huge_frames: Option<Box<HugeFrames>>,
    stream: usize,
    time_base: Rational,
    start: f64,
    fps: f64,
    sampler: Sampler,
    /// Also hash the frames between the sampled ones (query-side view, see
    /// [`EveryNth::between`]).
    between: bool,
    opts: &'i VideoOptions,
    deadline: Option<Instant>,
    counts: Counts,
    /// Frame duration of a constant-rate stream: a larger jump in
    /// presentation time means frames went missing (damage the container
    /// cannot report, e.g. dropped MPEG-TS packets).
    cfr_step: Option<f64>,
    first_shown: Option<f64>,
    last_shown: Option<f64>,
    /// TMK+PDQF's frames, when computed (conformant mode).
    tmk: Option<TmkChoice>,
}

impl Decode<'_, '_> {
    /// Frames missing from a constant-rate stream, judged from the span of
    /// presentation times (damage the container cannot report, e.g.
    /// dropped MPEG-TS packets). Implausible spans (timestamp jumps) count
    /// nothing.
    fn missing_frames(&self) -> u64 {
        let (Some(step), Some(first), Some(last)) =
            (self.cfr_step, self.first_shown, self.last_shown)
        else {
            return 0;
        };
        let expected = ((last - first) / step).round() + 1.0;
        let decoded = self.counts.decoded as f64;
        if !(expected.is_finite() && expected > decoded && expected <= 2.0 * decoded + 100.0) {
            return 0;
        }
        (expected - decoded) as u64
    }

    fn timeout(&self) -> ItemError {
        ItemError::new(
            ErrorKind::Timeout,
            format!(
                "gave up after {} s (--video-timeout) at frame {}",
                self.opts.timeout.map_or(0.0, |t| t.as_secs_f64()),
                self.counts.decoded
            ),
        )
    }

    fn check_deadline(&self) -> Result<(), ItemError> {
        match self.deadline {
            Some(d) if Instant::now() >= d => Err(self.timeout()),
            _ => Ok(()),
        }
    }

    /// Read packets to the end, decoding and sampling.
    fn run(&mut self, sink: &mut Sink<'_>) -> Result<(), ItemError> {
        let mut read_errors = 0u32;
        loop {
            self.check_deadline()?;
            // av_read_frame overwrites the packet without releasing the
            // previous one's buffer: start from a fresh packet (dropping the
            // old one frees it), or every packet of the file leaks.
            let mut packet = Packet::empty();
            match packet.read(self.input.input()) {
                Ok(()) => read_errors = 0,
                Err(ffmpeg_next::Error::Eof) => break,
                Err(e) => {
                    if let Some(io) = self.input.take_io_error() {
                        return Err(ItemError::io("read", &io));
                    }
                    if self.input.interrupted() {
                        return Err(self.timeout());
                    }
                    read_errors += 1;
                    if read_errors >= MAX_READ_ERRORS {
                        return Err(ItemError::new(
                            ErrorKind::Decode,
                            format!(
                                "the container is unreadable after frame {}: {e}",
                                self.counts.decoded
                            ),
                        ));
                    }
                    continue;
                }
            }
            if packet.stream() != self.stream {
                continue;
            }
            self.counts.packets += 1;
            if self.decoder.send_packet(&packet).is_err() {
                self.counts.lost += 1;
                continue;
            }
            self.drain(sink)?;
        }
        if self.decoder.send_eof().is_ok() {
            self.drain(sink)?;
        }
        // The CLI's flush: the last frame again, almost always 0 times.
        if let Some(tmk) = self.tmk.as_mut() {
            let copies = tmk.rate.finish();
            if let Some(last) = tmk.last.take().filter(|_| copies > 0) {
                sink(Sampled::tmk_only(last, copies))?;
            }
        }
        Ok(())
    }

    /// Take every frame the decoder has ready.
    fn drain(&mut self, sink: &mut Sink<'_>) -> Result<(), ItemError> {
        let mut frame = Video::empty();
        loop {
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => self.on_frame(&frame, sink)?,
                Err(ffmpeg_next::Error::Eof) => return Ok(()),
                Err(ffmpeg_next::Error::Other { errno }) if errno == libc::EAGAIN => return Ok(()),
                Err(_) => {
                    self.counts.lost += 1;
                    return Ok(());
                }
            }
        }
    }

    fn on_frame(&mut self, frame: &Video, sink: &mut Sink<'_>) -> Result<(), ItemError> {
        let n = self.counts.decoded;
        self.counts.decoded += 1;
        let pts_time = frame
            .timestamp()
            .and_then(|t| seconds(t, self.time_base))
            .map(|t| t - self.start);
        let shown_at = pts_time.unwrap_or(n as f64 / self.fps);
        if pts_time.is_some() {
            self.first_shown = self.first_shown.or(pts_time);
            self.last_shown = pts_time;
        }
        if let Some(max) = self.opts.max_duration {
            if shown_at > max {
                return Err(ItemError::new(
                    ErrorKind::Limit,
                    format!("video runs longer than the limit of {max} s (--max-duration)"),
                ));
            }
        }
        let pick = match &mut self.sampler {
            Sampler::Conformant(s) if s.wants(n) => Some((n, s.timestamp(n), false)),
            Sampler::Conformant(s) => (self.between && s.between(n, self.opts.between_per_period))
                .then(|| (n, s.timestamp(n), true)),
            Sampler::Fast(s) => pts_time
                .and_then(|t| s.take(t).map(|num| (num, t, false)))
                .or_else(|| (n == 0).then_some((0, 0.0, false))),
        };
        let mut tmk_copies = 0;
        if let Some(tmk) = self.tmk.as_mut() {
            let copies = tmk.pick(frame);
            if copies.previous > 0 {
                if let Some(last) = tmk.last.take() {
                    sink(Sampled::tmk_only(last, copies.previous))?;
                }
            }
            tmk_copies = copies.current;
            if !tmk.rate.keeps_previous() {
                tmk.last = Some(frame_ref(frame)?);
            }
        }
        if let Some((number, timestamp, between)) = pick {
            sink(Sampled {
                frame: frame_ref(frame)?,
                number,
                timestamp,
                between,
                pdq: true,
                tmk: tmk_copies,
            })?;
        } else if tmk_copies > 0 {
            sink(Sampled::tmk_only(frame_ref(frame)?, tmk_copies))?;
        }
        Ok(())
    }
}

/// Decode the video in `src` and fill `rec`. See [`super::hash_video_into`].
pub fn hash_video(
    src: &mut dyn ReadSeek,
    rec: &mut FileRecord,
    opts: &VideoOptions,
    views: ViewSet,
    pdq: &mut PdqHasher,
) -> Result<(), ItemError> {
    hash_video_tapped(src, rec, opts, views, pdq, None)
}

/// [`hash_video`], also handing every TMK frame to `tap` (tests).
pub fn hash_video_tapped(
    src: &mut dyn ReadSeek,
    rec: &mut FileRecord,
    opts: &VideoOptions,
    views: ViewSet,
    pdq: &mut PdqHasher,
    tap: Option<tmk_frames::TmkTap>,
) -> Result<(), ItemError> {
    quiet_logs();
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let timeout_secs = opts.timeout.map_or(0.0, |t| t.as_secs_f64());
    let mut input = CustomInput::open(src, deadline).map_err(|e| open_error(e, timeout_secs))?;

    let ictx = input.input();
    let container_duration =
        (ictx.duration() > 0).then(|| ictx.duration() as f64 / f64::from(ffi::AV_TIME_BASE));
    let stream = ictx
        .streams()
        .filter(|s| s.parameters().medium() == Type::Video)
        .min_by_key(|s| s.disposition().contains(Disposition::ATTACHED_PIC))
        .ok_or_else(|| {
            ItemError::new(
                ErrorKind::Unsupported,
                "no video stream to hash (an audio-only file?)",
            )
        })?;
    let index = stream.index();
    let time_base = stream.time_base();
    let start = seconds(stream.start_time(), time_base).unwrap_or(0.0);
    let declared_frames = u64::try_from(stream.frames()).unwrap_or(0);
    let duration = (stream.duration() > 0)
        .then(|| seconds(stream.duration(), time_base))
        .flatten()
        .or(container_duration);
    let params = stream.parameters();
    // SAFETY: `params` points at the stream's live codec parameters.
    let (width, height) = unsafe { ((*params.as_ptr()).width, (*params.as_ptr()).height) };
    let fps = sampler::frame_rate(
        (
            stream.avg_frame_rate().numerator(),
            stream.avg_frame_rate().denominator(),
        ),
        (stream.rate().numerator(), stream.rate().denominator()),
    );
    let constant_rate = stream.avg_frame_rate() == stream.rate();
    // What the ffmpeg CLI knows of the input when it picks TMK's frames.
    // SAFETY: `ictx` and `stream` are live for this block; the calls read
    // them (av_guess_frame_rate also reads the stream's internal codec
    // context, filled by avformat_find_stream_info).
    let tmk_input = unsafe {
        let ic = ictx.as_ptr();
        let st = stream.as_ptr();
        let tb = (*st).time_base;
        let fr = ffi::av_guess_frame_rate(ic as *mut _, st as *mut _, std::ptr::null_mut());
        let offset = if (*ic).start_time == ffi::AV_NOPTS_VALUE {
            0
        } else {
            ffi::av_rescale_q(
                -(*ic).start_time,
                ffi::AVRational {
                    num: 1,
                    den: ffi::AV_TIME_BASE,
                },
                tb,
            )
        };
        (
            tb,
            offset,
            (fr.num > 0 && fr.den > 0).then_some((fr.num, fr.den)),
            (*st).start_time != ffi::AV_NOPTS_VALUE,
            (*ic).nb_streams == 1,
            tmk_frames::stream_display_matrix(st),
        )
    };
    let codec_name = Some(params.id().name().to_string());
    rec.duration = duration;
    rec.frame_rate = fps;
    if width > 0 && height > 0 {
        rec.width = Some(width as u32);
        rec.height = Some(height as u32);
    }
    let mut facts = VideoFacts {
        codec: codec_name.clone(),
        ..VideoFacts::default()
    };

    if width <= 0 || height <= 0 {
        return Err(ItemError::new(
            ErrorKind::Decode,
            "the video stream declares no frame size",
        ));
    }
    let pixels = width as u64 * height as u64;
    if pixels > opts.max_pixels {
        return Err(ItemError::new(
            ErrorKind::Limit,
            format!(
                "declared frame size {width}x{height} is over the limit of {} pixels",
                opts.max_pixels
            ),
        ));
    }
    if let (Some(max), Some(d)) = (opts.max_duration, duration) {
        if d > max {
            return Err(ItemError::new(
                ErrorKind::Limit,
                format!("declared duration {d:.1} s is over the limit of {max} s (--max-duration)"),
            ));
        }
    }
    let fps = fps.ok_or_else(|| {
        ItemError::new(ErrorKind::Decode, "the video stream declares no frame rate")
    })?;
    let Some(decoder_codec) = codec::decoder::find(params.id()) else {
        return Err(ItemError::new(
            ErrorKind::Unsupported,
            format!(
                "no decoder for codec {:?} in the linked FFmpeg",
                params.id()
            ),
        ));
    };
    let mut ctx = codec::Context::from_parameters(params)
        .map_err(|e| ItemError::new(ErrorKind::Decode, format!("codec parameters: {e}")))?;
    ctx.set_threading(threading::Config {
        kind: threading::Type::Frame,
        count: opts.threads,
        ..threading::Config::default()
    });
    // SAFETY: the context is not open yet and nothing else sets its
    // `opaque` or `get_buffer2`; `Decode` drops the state after it.
    let huge_frames = unsafe { HugeFrames::install(ctx.as_mut_ptr(), decoder_codec.as_ptr()) };
    let mut decoder = ctx.decoder();
    match opts.fast {
        Some(FastMode::Keyframes) => decoder.skip_frame(Discard::NonKey),
        Some(FastMode::NoBFrames) => {
            decoder.skip_frame(Discard::Bidirectional);
        }
        None => {}
    }
    let decoder = decoder
        .open_as(decoder_codec)
        .and_then(|d| d.video())
        .map_err(|e| {
            ItemError::new(
                ErrorKind::Unsupported,
                format!(
                    "cannot open the {} decoder: {e}",
                    codec_name.as_deref().unwrap_or("video")
                ),
            )
        })?;

    // TMK needs every decoded frame: not in the fast (triage) modes.
    let tmk_wanted = opts.tmk && opts.fast.is_none();
    let sampler = if opts.fast.is_some() {
        Sampler::Fast(ByTime::new(opts.seconds_per_hash, fps))
    } else {
        Sampler::Conformant(EveryNth::new(opts.seconds_per_hash, fps))
    };
    let mut run = Decode {
        input: &mut input,
        decoder,
        _huge_frames: huge_frames,
        stream: index,
        time_base,
        start,
        fps,
        sampler,
        between: views.crops(),
        opts,
        deadline,
        counts: Counts::default(),
        cfr_step: (constant_rate && opts.fast.is_none()).then(|| 1.0 / fps),
        first_shown: None,
        last_shown: None,
        tmk: tmk_wanted.then(|| TmkChoice {
            rate: CliRate::new(tmk_input.4),
            time_base: tmk_input.0,
            offset: tmk_input.1,
            frame_rate: tmk_input.2,
            stream_has_start_time: tmk_input.3,
            last: None,
        }),
    };
    let tmk_setup = tmk_wanted.then_some(tmk_frames::TmkSetup {
        stream_matrix: tmk_input.5,
        tap,
    });
    let (dw, dh) = (width as u32, height as u32);
    let (frames, result) = if opts.threads == 1 {
        let mut fh = FrameHasher::new(dw, dh, views, tmk_setup);
        let result = run.run(&mut |s| {
            fh.hash(&s, pdq)
                .map_err(|e| ItemError::new(ErrorKind::Decode, e.to_string()))
        });
        (fh.finish(), result)
    } else {
        hash_on_worker(&mut run, pdq, dw, dh, views, tmk_setup)
    };
    facts.frames_decoded = run.counts.decoded;
    facts.frames_lost = run.counts.lost.max(run.missing_frames());
    let packets = run.counts.packets;
    drop(run);
    rec.pdq = frames.record;
    rec.between = frames.between;
    // TMK of a decode that ran to its end (damage included, as the CLI
    // would have hashed it); a TMK failure is the TMK's alone.
    if result.is_ok() {
        match frames.tmk {
            Some(Ok(hash)) => {
                facts.tmk_frames = Some(u64::from(hash.frame_count()));
                rec.tmk = Some(std::sync::Arc::new(hash));
                rec.tmk_letterbox = frames.tmk_letterbox.map(std::sync::Arc::new);
                rec.tmk_band = frames.tmk_band.map(std::sync::Arc::new);
            }
            Some(Err(e)) => facts.tmk_error = Some(e),
            None => {}
        }
    }
    let truncated = result.is_ok() && declared_frames > packets;
    if truncated {
        facts.frames_lost += declared_frames - packets;
    }
    rec.video = Some(facts);
    result?;
    if truncated {
        return Err(ItemError::new(
            ErrorKind::Decode,
            format!(
                "truncated: the index lists {declared_frames} frames, the file holds {packets}"
            ),
        ));
    }
    if rec.pdq.is_empty() {
        return Err(ItemError::new(
            ErrorKind::Decode,
            "no video frame could be decoded",
        ));
    }
    Ok(())
}

/// Decode on this thread, convert and hash on a scoped worker thread; a
/// channel of two frames keeps memory bounded and lets the decoder run ahead.
fn hash_on_worker(
    run: &mut Decode<'_, '_>,
    pdq: &mut PdqHasher,
    width: u32,
    height: u32,
    views: ViewSet,
    tmk: Option<tmk_frames::TmkSetup>,
) -> (HashedFrames, Result<(), ItemError>) {
    std::thread::scope(|scope| {
        let (tx, rx) = crossbeam_channel::bounded::<Sampled>(2);
        let worker = scope.spawn(move || {
            let mut fh = FrameHasher::new(width, height, views, tmk);
            let mut failed = None;
            for s in rx {
                if let Err(e) = fh.hash(&s, pdq) {
                    failed = Some(ItemError::new(ErrorKind::Decode, e.to_string()));
                    break;
                }
            }
            (fh.finish(), failed)
        });
        let decoded = run.run(&mut |s| {
            tx.send(s)
                .map_err(|_| ItemError::new(ErrorKind::Decode, "the frame hasher stopped"))
        });
        drop(tx);
        match worker.join() {
            Ok((frames, None)) => (frames, decoded),
            // The hasher's own error explains a "hasher stopped" send error.
            Ok((frames, Some(e))) => (frames, Err(e)),
            Err(_) => (
                HashedFrames::default(),
                Err(ItemError::new(
                    ErrorKind::Decode,
                    "internal error while hashing frames",
                )),
            ),
        }
    })
}

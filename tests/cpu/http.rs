//! The tests' HTTP file server (used by the GPU tests of `http://` URIs), checked with raw
//! requests and with GStreamer's own HTTP source decoding the demo clip on the CPU.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

use gst::prelude::*;

use cudapreproc_tests::http::FileServer;

fn media() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../media"))
}

/// One request on a fresh connection; the whole response (the server closes nothing, so the
/// response is read up to its Content-Length).
fn request(server: &FileServer, name: &str, headers: &str) -> (String, Vec<u8>) {
    let uri = server.uri(name);
    let address = uri
        .strip_prefix("http://")
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "GET /{name} HTTP/1.1\r\nHost: {address}\r\n{headers}\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        let n = stream.read(&mut chunk).unwrap();
        response.extend_from_slice(&chunk[..n]);
        let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&response[..end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        if response.len() >= end + 4 + length {
            return (head, response[end + 4..end + 4 + length].to_vec());
        }
        assert!(n > 0, "connection closed early");
    }
}

#[test]
fn serves_files_and_byte_ranges() {
    let server = FileServer::start(media());
    let file = std::fs::read(media().join("bigbuckbunny.mp4")).unwrap();
    let (head, body) = request(&server, "bigbuckbunny.mp4", "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body == file, "the whole file");
    let (head, body) = request(&server, "bigbuckbunny.mp4", "Range: bytes=1000-1999\r\n");
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert!(
        head.contains(&format!("Content-Range: bytes 1000-1999/{}", file.len())),
        "{head}"
    );
    assert!(body == file[1000..2000], "bytes 1000-1999");
    let (head, _) = request(&server, "no-such-file.mp4", "");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

/// GStreamer reads the demo clip through the server (qtdemux seeking by byte ranges) and
/// decodes all of its video on the CPU.
#[test]
fn gstreamer_decodes_the_clip_over_http() {
    cudapreproc_tests::init();
    let server = FileServer::start(media());
    let pipeline = gst::Pipeline::new();
    let decode = gst::ElementFactory::make("uridecodebin")
        .property("uri", server.uri("bigbuckbunny.mp4"))
        .build()
        .unwrap();
    let sink = gst_app::AppSink::builder()
        .caps(&gst::Caps::builder("video/x-raw").build())
        .sync(false)
        .build();
    pipeline.add_many([&decode, sink.upcast_ref()]).unwrap();
    let weak_pipeline = pipeline.downgrade();
    let video_sink = sink.static_pad("sink").unwrap();
    decode.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_video = caps
            .structure(0)
            .is_some_and(|s| s.name().starts_with("video/"));
        if is_video && !video_sink.is_linked() {
            pad.link(&video_sink).unwrap();
        } else if let Some(pipeline) = weak_pipeline.upgrade() {
            // Other streams (audio) go to a sink of their own.
            let other = gst::ElementFactory::make("fakesink")
                .property("sync", false)
                .build()
                .unwrap();
            pipeline.add(&other).unwrap();
            other.sync_state_with_parent().unwrap();
            pad.link(&other.static_pad("sink").unwrap()).unwrap();
        }
    });
    let pipeline = cudapreproc_tests::Stopping(pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = 0;
    while let Some(sample) = cudapreproc_tests::sample_or_error(&pipeline, &sink) {
        let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
        assert_eq!((info.width(), info.height()), (1280, 720));
        frames += 1;
    }
    assert_eq!(frames, 132, "frames of the demo clip over http");
}

//! A small HTTP/1.1 file server on the loopback interface, for tests that read `http://` URIs:
//! GET and HEAD of the files of one folder, with single byte ranges (what GStreamer's
//! souphttpsrc asks for when a demuxer seeks) and keep-alive connections.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};

/// A server running for the rest of the process.
pub struct FileServer {
    port: u16,
}

impl FileServer {
    /// Serves the files of `dir` on a free port of 127.0.0.1.
    pub fn start(dir: impl Into<PathBuf>) -> FileServer {
        let dir = dir.into();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for connection in listener.incoming().flatten() {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    // A client closing its connection mid-transfer is normal (a demuxer that
                    // seeks drops the rest of a response).
                    let _ = serve(connection, &dir);
                });
            }
        });
        FileServer { port }
    }

    /// The URI of file `name` of the folder.
    pub fn uri(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }
}

/// A parsed `Range: bytes=FIRST-[LAST]` header.
fn byte_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let (first, last) = value.trim().strip_prefix("bytes=")?.split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let last = match last.trim() {
        "" => size.checked_sub(1)?,
        last => last.parse::<u64>().ok()?.min(size.checked_sub(1)?),
    };
    (first <= last).then_some((first, last))
}

/// Answers the requests of one connection until the client closes it.
fn serve(connection: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(connection.try_clone()?);
    let mut writer = connection;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request)? == 0 {
            return Ok(());
        }
        let mut range = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.trim().eq_ignore_ascii_case("range") {
                    range = Some(value.trim().to_string());
                }
            }
        }
        let mut words = request.split_whitespace();
        let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
        let name = target.trim_start_matches('/');
        let path = dir.join(name);
        let file = (!name.contains("..") && !name.is_empty())
            .then(|| std::fs::File::open(&path).ok())
            .flatten();
        let Some(mut file) = file else {
            write!(
                writer,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
            )?;
            continue;
        };
        let size = file.metadata()?.len();
        let (status, first, last) = match range.as_deref().map(|r| byte_range(r, size)) {
            None => ("200 OK", 0, size.saturating_sub(1)),
            Some(Some((first, last))) => ("206 Partial Content", first, last),
            Some(None) => {
                write!(
                    writer,
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{size}\r\n\
                     Content-Length: 0\r\n\r\n"
                )?;
                continue;
            }
        };
        let length = if size == 0 { 0 } else { last - first + 1 };
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\n\
             Accept-Ranges: bytes\r\nContent-Length: {length}\r\n"
        );
        if status.starts_with("206") {
            head.push_str(&format!("Content-Range: bytes {first}-{last}/{size}\r\n"));
        }
        head.push_str("\r\n");
        writer.write_all(head.as_bytes())?;
        if method != "HEAD" {
            file.seek(SeekFrom::Start(first))?;
            std::io::copy(&mut file.take(length), &mut writer)?;
        }
        writer.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn byte_ranges() {
        assert_eq!(byte_range("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(byte_range("bytes=900-", 1000), Some((900, 999)));
        assert_eq!(byte_range("bytes=900-5000", 1000), Some((900, 999)));
        assert_eq!(byte_range("bytes=1000-", 1000), None);
        assert_eq!(byte_range("bytes=5-4", 1000), None);
        assert_eq!(byte_range("items=0-1", 1000), None);
        assert_eq!(byte_range("bytes=0-", 0), None);
    }
}

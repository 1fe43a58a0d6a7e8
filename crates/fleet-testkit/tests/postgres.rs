//! TempPostgres against the real server binaries: start, connect over TCP and the socket,
//! settings applied, stop and restart, cleanup on drop and on panic.

use std::net::TcpStream;
use std::path::PathBuf;

use fleet_testkit::postgres::{PgBinaries, StopMode, TempPostgres, version_matrix};

fn accepts_tcp(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn starts_applies_settings_and_cleans_up() {
    let pg = TempPostgres::builder()
        .max_connections(7)
        .setting("work_mem", "8MB")
        .start()
        .expect("server starts");
    assert!(accepts_tcp(pg.port()));
    assert!(
        pg.socket_dir()
            .join(format!(".s.PGSQL.{}", pg.port()))
            .exists()
    );
    let conf = std::fs::read_to_string(pg.data_dir().join("postgresql.conf")).expect("conf");
    assert!(conf.contains("max_connections = '7'"));
    assert!(conf.contains("shared_preload_libraries = 'pg_stat_statements'"));
    assert!(
        !format!("{pg:?}").contains(pg.password()),
        "Debug redacts the password"
    );
    let dir: PathBuf = pg.socket_dir().to_path_buf();
    let port = pg.port();
    drop(pg);
    assert!(!dir.exists(), "directory removed on drop");
    assert!(!accepts_tcp(port), "server stopped on drop");
}

#[test]
fn stops_and_restarts_on_the_same_port() {
    let mut pg = TempPostgres::start().expect("server starts");
    let port = pg.port();
    pg.stop(StopMode::Fast).expect("stops");
    assert!(!accepts_tcp(port));
    pg.start_again().expect("starts again");
    assert_eq!(pg.port(), port);
    assert!(accepts_tcp(port));
    pg.restart(StopMode::Immediate).expect("restarts");
    assert!(accepts_tcp(port));
}

#[test]
fn a_panicking_test_still_stops_its_server() {
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let pg = TempPostgres::start().expect("server starts");
        tx.send((pg.port(), pg.socket_dir().to_path_buf()))
            .expect("send");
        panic!("the test fails while the server runs");
    })
    .join();
    assert!(outcome.is_err());
    let (port, dir) = rx.recv().expect("port sent");
    assert!(!accepts_tcp(port));
    assert!(!dir.exists());
}

#[test]
fn every_version_in_the_matrix_starts() {
    let matrix = version_matrix().expect("version matrix");
    let system = PgBinaries::system().expect("system binaries");
    assert_eq!(matrix[0].bindir(), system.bindir());
    for binaries in matrix {
        let major = binaries.major();
        let pg = TempPostgres::builder()
            .binaries(binaries)
            .start()
            .unwrap_or_else(|e| panic!("PostgreSQL {major} starts: {e}"));
        assert!(accepts_tcp(pg.port()), "PostgreSQL {major} accepts TCP");
        assert_eq!(pg.major(), major);
    }
}

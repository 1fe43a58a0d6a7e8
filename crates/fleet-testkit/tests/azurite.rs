//! Azurite as the test kit starts it: listens on its own port, creates containers (twice is
//! fine), rejects container names Azure would, and is gone after drop.
#![cfg(feature = "azurite")]

use std::net::TcpStream;

use fleet_testkit::azurite::Azurite;

#[test]
fn starts_creates_containers_and_stops_on_drop() {
    let azurite = Azurite::start().expect("azurite starts");
    let port = azurite.port();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    assert_eq!(
        azurite.blob_endpoint(),
        format!("http://127.0.0.1:{port}/devstoreaccount1")
    );
    azurite.create_container("backups").expect("created");
    azurite
        .create_container("backups")
        .expect("an existing container is fine");
    let bad = azurite
        .create_container("Bad_Name")
        .expect_err("invalid name");
    assert_eq!(bad.kind(), std::io::ErrorKind::InvalidInput);
    let data = azurite.data_dir().to_path_buf();
    drop(azurite);
    assert!(!data.exists(), "data directory removed");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "stopped");
}

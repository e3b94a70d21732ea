use super::*;
use crate::dnssec_config::DnssecPolicy;

#[test]
fn a_bind_key_without_state_is_adopted_and_its_state_stored() {
    let dir = std::env::temp_dir().join(format!("portcullis-keystore-adopt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let origin = NameBuf::from_text("example.", None).unwrap();
    let seed = [9u8; 32];
    let pair = KeyPair { owner: origin, flags: 257, key: portcullis_dnssec::SigningKey::from_ed25519_seed(&seed).unwrap() };
    let base = key_files::write(&dir, &pair, &seed).unwrap();
    let policy = DnssecPolicy { algorithm: Algorithm::ED25519, ..DnssecPolicy::builtin() };
    let keys = zone_keys(&dir, &origin, &policy, 300, 1000).unwrap();
    assert_eq!(keys.keys.len(), 1, "the imported CSK is enough");
    let state = keys.keys[0].state;
    assert_eq!((state.role, state.tag), (KeyRole::Csk, key_tag(&pair.dnskey_rdata())));
    assert!(state.is_signing(1000) && state.has_cds(1000));
    assert_eq!(KeyState::parse(&std::fs::read_to_string(state_path(&base)).unwrap()).unwrap(), state);
    // A corrupt state file is an error naming it, never a silent new key.
    std::fs::write(state_path(&base), "Algorithm: x\n").unwrap();
    assert!(zone_keys(&dir, &origin, &policy, 300, 1000).unwrap_err().contains(".keystate"));
    // RSA cannot be generated: the error says how to import.
    let rsa = DnssecPolicy { algorithm: Algorithm::RSASHA256, ..DnssecPolicy::builtin() };
    let other = NameBuf::from_text("other.", None).unwrap();
    assert!(zone_keys(&dir, &other, &rsa, 300, 1000).unwrap_err().contains("ring cannot generate RSA keys"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_removed_keys_files_move_to_removed_and_it_is_no_longer_read() {
    let dir = std::env::temp_dir().join(format!("portcullis-keystore-removed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let origin = NameBuf::from_text("example.", None).unwrap();
    let policy = DnssecPolicy::builtin();
    let first = zone_keys(&dir, &origin, &policy, 300, 1000).unwrap();
    assert_eq!(first.keys.len(), 1);
    let old = &first.keys[0];
    let mut state = old.state;
    (state.retire, state.remove, state.ds_withdraw, state.ds_gone) = (Some(1500), Some(1500), Some(1500), Some(1500));
    write_state(&old.base, &state).unwrap();
    let later = zone_keys(&dir, &origin, &policy, 300, 2000).unwrap();
    assert!(later.keys.iter().all(|key| key.state.tag != state.tag), "the removed key is dropped, a new one made");
    let name = old.base.file_name().unwrap().to_string_lossy().into_owned();
    for suffix in [".key", ".private", ".keystate"] {
        assert!(dir.join("removed").join(format!("{name}{suffix}")).is_file(), "{name}{suffix} in removed/");
        assert!(!dir.join(format!("{name}{suffix}")).exists(), "{name}{suffix} moved");
    }
    assert!(is_private(&dir.join("removed")));
    let _ = std::fs::remove_dir_all(&dir);
}

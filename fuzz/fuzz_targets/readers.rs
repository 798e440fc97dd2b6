//! The CSV and LIBSVM readers on arbitrary bytes: every input ends in `Ok` or `Err`, never a
//! panic, and an `Ok` data set is internally consistent.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use scalemix::io::{Columns, read_from};

fuzz_target!(|bytes: &[u8]| {
    let Some((&selector, content)) = bytes.split_first() else { return };
    let libsvm = selector & 1 == 1;
    let names = ["w".to_string(), "y".to_string()];
    let columns = match selector >> 1 & 3 {
        0 => Columns { target: None, extras: &[], target_required: true, features: None },
        1 => Columns { target: Some("y"), extras: &["w"], target_required: true, features: None },
        2 => Columns { target: None, extras: &[], target_required: false, features: Some(&names) },
        _ => Columns { target: Some("a"), extras: &[], target_required: true, features: None },
    };
    let reader = Box::new(std::io::Cursor::new(content.to_vec()));
    if let Ok(data) = read_from(reader, Path::new("fuzz"), libsvm, &columns) {
        assert_eq!(data.x.len(), data.n * data.p);
        assert!(data.x.iter().all(|v| v.is_finite()));
        assert_eq!(data.feature_names.len(), data.p);
    }
});

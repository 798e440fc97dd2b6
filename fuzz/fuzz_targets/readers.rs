//! Every file reader behind `scalemix::source::open_file` (CSV, TSV, LIBSVM, either gzipped,
//! Parquet, Arrow IPC) on arbitrary bytes, read whole as the command line reads it: every input
//! ends in `Ok` or `Err`, never a panic, and an `Ok` data set is internally consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scalemix::io::collect;
use scalemix::source::{Roles, open_file};

fuzz_target!(|bytes: &[u8]| {
    let Some((&selector, content)) = bytes.split_first() else { return };
    let extension = ["csv", "tsv", "svm", "csv.gz", "svm.gz", "parquet", "arrow", "csv"]
        [usize::from(selector & 7)];
    let roles = match selector >> 3 & 3 {
        0 => Roles::target(None),
        1 => Roles { weights: Some("w".into()), ..Roles::target(Some("y")) },
        2 => Roles {
            target_required: false,
            features: Some(vec!["w".into(), "y".into()]),
            ..Roles::default()
        },
        _ => Roles::target(Some("a")),
    };
    let dir = std::env::temp_dir().join(format!("scalemix-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let path = dir.join(format!("input.{extension}"));
    std::fs::write(&path, content).expect("the input written");
    let Ok(mut source) = open_file(&path, &roles) else { return };
    if let Ok(data) = collect(&mut *source) {
        let scalemix::io::Matrix::Dense(x) = &data.x else { panic!("collect reads X dense") };
        assert_eq!(x.len(), data.n * data.p);
        assert!(x.iter().all(|v| v.is_finite()));
        assert_eq!(data.feature_names.len(), data.p);
    }
});

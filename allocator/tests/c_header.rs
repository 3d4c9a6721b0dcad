//! `include/jemalloc/jemalloc.h` and the library's exports: the header compiles in strict C
//! and C++ modes (unprefixed and with `JEMALLOC_PREFIX_JE`), its constants are the engine's, the library exports exactly the manual's
//! API, and the manual's `mallctlnametomib()` example compiles and runs unchanged.

mod common;

use common::{
    assert_success, c_source, compile_c, include_dir, preload, run, run_with_stdin, so_path, Link, MANUAL_FUNCTIONS,
    MANUAL_VARIABLES,
};
use jemalloc_rs::api;
use jemalloc_rs::size_classes::{SizeClasses, DEFAULT_LG_CHUNK, DEFAULT_LG_CSPACE_MAX, DEFAULT_LG_QSPACE_MAX};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn header_compiles_in_strict_c_and_cxx_modes() {
    let modes: &[(&str, &[&str])] = &[
        ("cc", &["-std=c99", "-pedantic"]),
        ("cc", &["-std=c11", "-pedantic"]),
        ("cc", &["-std=c11", "-pedantic", "-D_POSIX_C_SOURCE=200809L"]),
        ("cc", &["-std=gnu17"]),
        ("c++", &["-x", "c++", "-std=c++98", "-pedantic"]),
        ("c++", &["-x", "c++", "-std=c++11", "-pedantic"]),
        ("c++", &["-x", "c++", "-std=c++17", "-pedantic"]),
    ];
    for (compiler, flags) in modes {
        for prefix in [&[][..], &["-DJEMALLOC_PREFIX_JE"][..]] {
            let out = run(
                Command::new(compiler)
                    .args(*flags)
                    .args(prefix)
                    .args(["-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I"])
                    .arg(include_dir())
                    .arg(c_source("header_use.c")),
                LIMIT,
            );
            assert_success(&out, &format!("{compiler} {} {}", flags.join(" "), prefix.join(" ")));
        }
        // The C library's declarations first, as in most programs.
        let after_stdlib = b"#include <stdlib.h>\n#include <jemalloc/jemalloc.h>\n#include <stdlib.h>\n";
        let lang = if *compiler == "cc" { "c" } else { "c++" };
        let out = run_with_stdin(
            Command::new(compiler)
                .args(*flags)
                .args(["-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I"])
                .arg(include_dir())
                .args(["-x", lang, "-"]),
            Some(after_stdlib.to_vec()),
            LIMIT,
        );
        assert_success(&out, &format!("{compiler} {}, <stdlib.h> first", flags.join(" ")));
    }
}

#[test]
fn header_constants_are_the_engines() {
    let exe = compile_c("macros.c", Link::PreloadOnly);
    let out = run(&mut Command::new(&exe), LIMIT);
    assert_success(&out, "macros");
    let text = String::from_utf8(out.stdout).expect("macros prints text");
    let values: BTreeMap<&str, &str> = text.lines().filter_map(|l| l.rsplit_once(' ')).collect();
    let int = |name: &str| -> i64 {
        values.get(name).unwrap_or_else(|| panic!("macros printed no {name}")).parse().expect("a number")
    };
    assert_eq!(int("ALLOCM_ZERO"), api::ALLOCM_ZERO as i64);
    assert_eq!(int("ALLOCM_NO_MOVE"), api::ALLOCM_NO_MOVE as i64);
    assert_eq!(int("ALLOCM_SUCCESS"), api::ALLOCM_SUCCESS as i64);
    assert_eq!(int("ALLOCM_ERR_OOM"), api::ALLOCM_ERR_OOM as i64);
    assert_eq!(int("ALLOCM_ERR_NOT_MOVED"), api::ALLOCM_ERR_NOT_MOVED as i64);
    assert_eq!(api::ALLOCM_ZERO & api::ALLOCM_LG_ALIGN_MASK, 0);
    assert_eq!(api::ALLOCM_NO_MOVE & api::ALLOCM_LG_ALIGN_MASK, 0);
    for lg in 0..64 {
        assert_eq!(int(&format!("ALLOCM_ALIGN(2^{lg})")), lg, "ALLOCM_ALIGN(2^{lg})");
        assert_eq!(int(&format!("ALLOCM_LG_ALIGN({lg})")), lg, "ALLOCM_LG_ALIGN({lg})");
    }
    assert!(values["JEMALLOC_VERSION"].starts_with("2.2.1-0-"), "JEMALLOC_VERSION is {}", values["JEMALLOC_VERSION"]);
    assert_eq!(values["JEMALLOC_VERSION_NUMBERS"], "2.2.1-0");
}

#[test]
fn library_exports_exactly_the_manual_api() {
    let out = run(Command::new("nm").args(["-D", "--defined-only"]).arg(so_path()), LIMIT);
    assert_success(&out, "nm -D");
    let text = String::from_utf8(out.stdout).expect("nm prints text");
    let mut exported = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [_, kind, name] = fields[..] {
            exported.insert(name.to_owned(), kind.to_owned());
        }
    }
    for f in MANUAL_FUNCTIONS {
        assert_eq!(exported.get(*f).map(String::as_str), Some("T"), "{f} is not exported as a function");
    }
    let message = exported.get("malloc_message").map(String::as_str);
    assert!(matches!(message, Some("D" | "B")), "malloc_message is not exported as a variable: {message:?}");
    for (name, kind) in &exported {
        // pvalloc is glibc's; it is replaced too, so that its memory never reaches our free.
        let known =
            MANUAL_FUNCTIONS.contains(&name.as_str()) || MANUAL_VARIABLES.contains(&name.as_str()) || name == "pvalloc";
        assert!(known, "the library exports {name} ({kind}), which the manual does not define");
    }
}

#[test]
fn manual_mallctlnametomib_example_runs() {
    let exe = compile_c("manual_mib.c", Link::Library);
    let out = run(preload(&mut Command::new(&exe)), LIMIT);
    assert_success(&out, "manual_mib");
    let sc =
        SizeClasses::new(DEFAULT_LG_CHUNK, DEFAULT_LG_QSPACE_MAX, DEFAULT_LG_CSPACE_MAX).expect("default size classes");
    let expected: Vec<String> = sc.bins().iter().enumerate().map(|(i, b)| format!("{i} {}", b.reg_size)).collect();
    let text = String::from_utf8(out.stdout).expect("manual_mib prints text");
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(got, expected, "bin sizes read through mallctlbymib differ from the size-class table");
}

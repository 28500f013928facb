//! The build script every Lambda function shares (`build = "../build/link_without_pie.rs"`):
//! its bootstrap is linked as a position-dependent executable.
//!
//! A position-independent executable is relocated by the dynamic loader before `main`: the api's
//! carried about 58,000 relative relocations (1.4 MB of `.rela.dyn`, read, plus every page of
//! `.data.rel.ro` written), a few hundred page faults on every cold start. Linked at a fixed
//! address the linker resolves them once, at build time. The code is still compiled
//! position-independent (so is the standard library); only the link changes, and only for the
//! function's binaries, not its tests. What this gives up is address-space randomisation of the
//! executable's own image, inside a Firecracker micro-VM that runs one function's code.
//! Both linkers the suite builds with (the system `cc` for x86_64, `zig cc` under cargo-lambda for
//! arm64) take the last of `-pie` / `-no-pie`, and rustc's `-pie` comes first.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
    println!("cargo::rerun-if-changed=../build/link_without_pie.rs");
}

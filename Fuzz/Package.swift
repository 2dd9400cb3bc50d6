// swift-tools-version:6.0
import PackageDescription

// Fuzzing and differential testing of tfc, kept out of the main package so that its build
// and tests are untouched. Build and run through scripts/fuzz.sh and scripts/differential.sh
// (see Docs/testing.md, "Fuzzing and differential testing").
//
// The fuzz-* executables are libFuzzer targets: built with
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address --product fuzz-tir
// each one's main calls LLVMFuzzerRunDriver (declared by CFuzzer) with its test function, so
// SwiftPM's renaming of an executable's main does not get in the way. Built without the
// sanitizer flags they still link (CFuzzer's weak stand-in runs each file given once).
// SwiftPM names a path dependency after its folder (lowercased), whatever the checkout is called.
let main = Context.packageDirectory.split(separator: "/").dropLast().last.map { String($0).lowercased() } ?? "main"
/// A library product of the main package: each target depends on exactly the modules it imports.
func tfc(_ product: String) -> Target.Dependency { .product(name: product, package: main) }

let package = Package(
    name: "tfc-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer"]),
        .executableTarget(name: "fuzz-tir", dependencies: ["FuzzSupport", tfc("TIR")]),
        .executableTarget(name: "fuzz-safetensors", dependencies: ["FuzzSupport", tfc("TIR"), tfc("TIRFormats")]),
        .executableTarget(name: "fuzz-config", dependencies: ["FuzzSupport", tfc("TIR"), tfc("TIRFormats"), tfc("TIRImport")]),
        .executableTarget(name: "fuzz-npy", dependencies: ["FuzzSupport", tfc("TIR"), tfc("TIRFormats")]),
        .executableTarget(name: "differential", dependencies: [tfc("TIR"), tfc("TFCTestSupport")]),
    ]
)

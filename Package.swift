// swift-tools-version:6.0
import PackageDescription

// tfc: an ahead-of-time compiler for Pre-LN Transformers.
// Dependencies point one way, and every target lists exactly the modules it imports:
//   TIR <- TIRFormats, TIRInterpreter, TIRTransforms; TIR + TIRFormats <- TIRImport;
//   TIR + LLVMBridge <- TIRCodegen; TIRFormats <- TFCTokenizer; all of them <- TFCDriver <- TFCCommandLine (the `tfc` binary).
//   TFCTestSupport (generated models, differential checks) sits on TFCDriver and serves only the
//   tests and the Fuzz package.
// LLVM comes from Debian's llvm-19-dev through the header-only C target CLLVM (see its shim.h):
// libLLVM-19.so lives in the default library path, so no unsafeFlags, -L or rpath are needed.
let package = Package(
    name: "tfc",
    platforms: [.macOS(.v14)],
    products: [
        // The executable product names the binary: .build/debug/tfc, .build/release/tfc.
        .executable(name: "tfc", targets: ["TFCCommandLine"]),
        .library(name: "TFCDriver", targets: ["TFCDriver"]),
        // For the Fuzz package: the modules its targets import, each as its own product.
        .library(name: "TIR", targets: ["TIR"]),
        .library(name: "TIRFormats", targets: ["TIRFormats"]),
        .library(name: "TIRImport", targets: ["TIRImport"]),
        .library(name: "TFCTestSupport", targets: ["TFCTestSupport"]),
        .library(name: "TFCTokenizer", targets: ["TFCTokenizer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CLLVM"),
        .target(name: "LLVMBridge", dependencies: ["CLLVM"]),
        .target(name: "TIR"),
        .target(name: "TIRFormats", dependencies: ["TIR"]),
        .target(name: "TIRInterpreter", dependencies: ["TIR"]),
        .target(name: "TIRTransforms", dependencies: ["TIR"]),
        .target(name: "TIRImport", dependencies: ["TIR", "TIRFormats"]),
        // Byte-level BPE (GPT-2's tokenizer), read from a checkpoint's vocab.json + merges.txt or tokenizer.json.
        .target(name: "TFCTokenizer", dependencies: ["TIRFormats"]),
        // libm: generated code may call it where an LLVM intrinsic has no instruction on the target
        // (the JIT resolves such calls in this process); its own math is inline polynomials.
        .target(name: "TIRCodegen", dependencies: ["TIR", "LLVMBridge"], linkerSettings: [.linkedLibrary("m")]),
        .target(name: "TFCDriver", dependencies: [
            "TIR", "TIRFormats", "TIRImport", "TIRInterpreter", "TIRTransforms", "TIRCodegen", "LLVMBridge", "TFCTokenizer",
        ]),
        .executableTarget(name: "TFCCommandLine", dependencies: [
            "TFCDriver", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "TFCTestSupport", dependencies: [
            "TIR", "TIRFormats", "TIRInterpreter", "TIRTransforms", "TIRCodegen", "TFCDriver",
        ]),
        .testTarget(name: "TIRTests", dependencies: ["TIR"], resources: [.copy("Golden")]),
        .testTarget(name: "TIRFormatsTests", dependencies: ["TIR", "TIRFormats"], resources: [.copy("Golden")]),
        .testTarget(name: "TransformsTests", dependencies: ["TIR", "TIRFormats", "TIRTransforms", "TIRInterpreter"],
                    exclude: ["Golden"]),
        .testTarget(name: "InterpreterTests", dependencies: ["TIR", "TIRFormats", "TIRInterpreter"], exclude: ["make_reference.py"]),
        .testTarget(name: "TokenizerTests", dependencies: ["TFCTokenizer"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CodegenTests", dependencies: ["TIR", "TIRFormats", "TIRInterpreter", "TIRCodegen", "LLVMBridge"]),
        .testTarget(name: "ImportTests", dependencies: ["TFCDriver", "TIR", "TIRFormats", "TIRImport", "TIRTransforms",
                                                        "TIRCodegen", "TFCTokenizer"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "TFCTests", dependencies: [
            "TFCDriver", "TFCTestSupport", "TIR", "TIRFormats", "TIRCodegen", "TIRImport", "TIRInterpreter", "TIRTransforms",
        ], exclude: ["C", "FuzzRegressions"]),
    ]
)

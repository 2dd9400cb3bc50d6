// swift-tools-version:6.0
import PackageDescription

// tfc: an ahead-of-time compiler for Pre-LN Transformers.
// Dependencies point one way: TIR <- TIRInterpreter, TIRTransforms; TIR + LLVMBridge <- TIRCodegen;
// all of them <- TFC <- tfc.
// LLVM comes from Debian's llvm-19-dev through the header-only C target CLLVM (see its shim.h):
// libLLVM-19.so lives in the default library path, so no unsafeFlags, -L or rpath are needed.
let package = Package(
    name: "tfc",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tfc", targets: ["tfc"]),
        .library(name: "TFC", targets: ["TFC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CLLVM"),
        .target(name: "LLVMBridge", dependencies: ["CLLVM"]),
        .target(name: "TIR"),
        .target(name: "TIRInterpreter", dependencies: ["TIR"]),
        .target(name: "TIRTransforms", dependencies: ["TIR"]),
        .target(name: "TIRImport", dependencies: ["TIR"]),
        // libm: the JIT resolves expf/tanhf/erff, which generated code calls, in this process.
        .target(name: "TIRCodegen", dependencies: ["TIR", "LLVMBridge"], linkerSettings: [.linkedLibrary("m")]),
        .target(name: "TFC", dependencies: ["TIR", "TIRImport", "TIRInterpreter", "TIRTransforms", "TIRCodegen"]),
        .executableTarget(name: "tfc", dependencies: [
            "TFC", "TIRCodegen", "TIRTransforms", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "TIRTests", dependencies: ["TIR"], resources: [.copy("Golden")]),
        .testTarget(name: "TransformsTests", dependencies: ["TIR", "TIRTransforms", "TIRInterpreter"],
                    exclude: ["Golden"]),
        .testTarget(name: "InterpreterTests", dependencies: ["TIR", "TIRInterpreter"], exclude: ["make_reference.py"]),
        .testTarget(name: "CodegenTests", dependencies: ["TIR", "TIRInterpreter", "TIRCodegen", "LLVMBridge"]),
        .testTarget(name: "ImportTests", dependencies: ["TFC", "TIR", "TIRImport", "TIRTransforms"], exclude: ["Fixtures"]),
        .testTarget(name: "TFCTests", dependencies: ["TFC"], exclude: ["C", "FuzzRegressions"]),
    ]
)

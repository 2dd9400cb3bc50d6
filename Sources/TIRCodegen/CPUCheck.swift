// A compiled model checks, on its first call, that the running CPU has the instruction set
// extensions its code was compiled for, and returns ERR_CPU if not, instead of dying of SIGILL
// somewhere in the model. The public entry points are thin wrappers compiled for baseline
// x86-64 (no AVX), so nothing before the check can use what the CPU may lack; the model's code
// is an internal function compiled for the target's features. An object with code for several
// CPUs runs the first whose features this CPU has (EntryPoint.variants). The result is kept
// in one global, computed at most a few times (concurrent first calls may each compute it, with
// the same result): the only process-wide state an object keeps.
import LLVMBridge

/// How one x86 feature tfc chooses its code by is detected: a CPUID bit, and the XCR0 bits
/// (register state the operating system saves) it needs.
struct X86FeatureTest {
    let leaf: Int, subleaf: Int
    /// 0: eax, 1: ebx, 2: ecx, 3: edx.
    let register: Int
    let bit: Int
    let xcr0: Int

    static let avxState = 0x6        // SSE and AVX registers
    static let avx512State = 0xE6    // and the opmask and upper ZMM registers
    static let amxState = 0x60000    // tile configuration and data

    /// The features of KnownCPUs.x86Features (Intel SDM vol. 2, CPUID).
    static let all: [String: X86FeatureTest] = [
        "avx": X86FeatureTest(leaf: 1, subleaf: 0, register: 2, bit: 28, xcr0: avxState),
        "fma": X86FeatureTest(leaf: 1, subleaf: 0, register: 2, bit: 12, xcr0: avxState),
        "avx2": X86FeatureTest(leaf: 7, subleaf: 0, register: 1, bit: 5, xcr0: avxState),
        "avx512f": X86FeatureTest(leaf: 7, subleaf: 0, register: 1, bit: 16, xcr0: avx512State),
        "avx512dq": X86FeatureTest(leaf: 7, subleaf: 0, register: 1, bit: 17, xcr0: avx512State),
        "avx512bw": X86FeatureTest(leaf: 7, subleaf: 0, register: 1, bit: 30, xcr0: avx512State),
        "avx512vl": X86FeatureTest(leaf: 7, subleaf: 0, register: 1, bit: 31, xcr0: avx512State),
        "avx512bf16": X86FeatureTest(leaf: 7, subleaf: 1, register: 0, bit: 5, xcr0: avx512State),
        "amx-tile": X86FeatureTest(leaf: 7, subleaf: 0, register: 3, bit: 24, xcr0: amxState),
        "amx-bf16": X86FeatureTest(leaf: 7, subleaf: 0, register: 3, bit: 22, xcr0: amxState),
    ]
}

extension TargetSpec {
    /// The features an object for this target needs the running CPU to have (those tfc chooses
    /// its code by; the baseline of each architecture is not listed), in a fixed order. AMX is
    /// left out while tfc emits no tile instruction (LLVM never emits one by itself): an object
    /// built on a Sapphire Rapids runs on any CPU with its AVX-512 extensions.
    public var checkedFeatures: [String] {
        guard isX86 else { return [] }
        return X86FeatureTest.all.keys.filter { has($0) && !$0.hasPrefix("amx") }.sorted()
    }
}

/// Marks `fn` as compiled for baseline x86-64, whatever the module's target: it runs before the
/// CPU is known to have more.
func compileForBaseline(_ fn: Function, in ir: IRModule) {
    ir.addAttribute("target-cpu", "x86-64", to: fn)
    ir.addAttribute("target-features", "+cx8,+fxsr,+mmx,+sse,+sse2,+x87", to: fn)
}

/// `i32 tfc.cpu.choice()`: the index of the first feature list in `variants` that this CPU (and
/// its operating system) has in full, or -1 if none. The first call asks CPUID (and XGETBV) and
/// caches the answer in a global (0: not asked yet, i + 1: variant i, -1: none).
func buildCPUChoice(_ variants: [[String]], in ir: IRModule) -> Function {
    // One per module: the forward and the extend entry points ask the same function.
    if let built = ir.function(named: "tfc.cpu.choice", type: ir.functionType(ir.i32, [])) { return built }
    let fn = ir.addFunction("tfc.cpu.choice", ir.functionType(ir.i32, []), linkage: .internal)
    ir.addAttribute("nounwind", to: fn)
    compileForBaseline(fn, in: ir)
    let b = IRBuilder(ir, fn)
    let cache = ir.addGlobalInt32("tfc.cpu.answer", initial: 0)
    let known = b.atomicLoad(ir.i32, cache)
    b.returnIf(b.icmp(.ne, known, ir.i32(0)),
               b.select(b.icmp(.slt, known, ir.i32(0)), ir.i32(-1), b.sub(known, ir.i32(1))))

    let i32 = ir.i32
    let regs = ir.structType([i32, i32, i32, i32])
    let cpuid = ir.inlineAsm(ir.functionType(regs, [i32, i32]), "cpuid",
                             constraints: "={ax},={bx},={cx},={dx},{ax},{cx}", sideEffects: false)
    var leaves: [String: [Value]] = [:]
    func ask(_ leaf: Int, _ subleaf: Int) -> [Value] {
        let key = "\(leaf).\(subleaf)"
        if let words = leaves[key] { return words }
        let r = b.call(cpuid, [ir.i32(leaf), ir.i32(subleaf)])
        let words = (0..<4).map { b.extractValue(r, $0) }
        leaves[key] = words
        return words
    }
    func bit(_ word: Value, _ n: Int) -> Value {
        b.icmp(.ne, b.and(word, ir.i32(Int(Int32(bitPattern: UInt32(1) << UInt32(n))))), ir.i32(0))
    }
    let maxLeaf = ask(0, 0)[0]
    // The register state the operating system saves (XCR0), when XGETBV exists: when the OS has
    // enabled XSAVE (CPUID.1:ECX.OSXSAVE, bit 27); else none.
    let xcr0Slot = b.alloca(i32)
    b.store(ir.i32(0), xcr0Slot)
    b.ifThen(bit(ask(1, 0)[2], 27)) {
        let xgetbv = ir.inlineAsm(ir.functionType(ir.structType([i32, i32]), [i32]), "xgetbv",
                                  constraints: "={ax},={dx},{cx}", sideEffects: true)
        b.store(b.extractValue(b.call(xgetbv, [ir.i32(0)]), 0), xcr0Slot)
    }
    let xcr0 = b.load(i32, xcr0Slot)
    func has(_ features: [String]) -> Value {
        var ok = ir.i1(true)
        let tests = features.compactMap { X86FeatureTest.all[$0] }
        for test in tests {
            // Leaves past the CPU's maximum return other leaves' data: no feature is there.
            ok = b.and(ok, b.and(b.icmp(.uge, maxLeaf, ir.i32(test.leaf)), bit(ask(test.leaf, test.subleaf)[test.register], test.bit)))
        }
        let xcr0Needed = tests.reduce(0) { $0 | $1.xcr0 }
        if xcr0Needed != 0 { ok = b.and(ok, b.icmp(.eq, b.and(xcr0, ir.i32(xcr0Needed)), ir.i32(xcr0Needed))) }
        return ok
    }
    var choice = ir.i32(-1)
    for (i, features) in variants.enumerated().reversed() { choice = b.select(has(features), ir.i32(i), choice) }
    b.atomicStore(b.select(b.icmp(.slt, choice, ir.i32(0)), ir.i32(-1), b.add(choice, ir.i32(1))), cache)
    b.ret(choice)
    return fn
}

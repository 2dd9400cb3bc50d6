// A compiled model checks, on its first call, that the running CPU has the instruction set
// extensions its code was compiled for, and returns ERR_CPU if not, instead of dying of SIGILL
// somewhere in the model. The public entry points are thin wrappers compiled for baseline
// x86-64 (no AVX), so nothing before the check can use what the CPU may lack; the model's code
// is an internal function compiled for the target's features. The result of the check is kept
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

/// `i1 tfc.cpu.supported()`: whether this CPU (and its operating system) has every feature in
/// `features`. The first call asks CPUID (and XGETBV) and caches the answer in a global
/// (0: not asked yet, 1: yes, 2: no).
func buildCPUCheck(_ features: [String], in ir: IRModule) -> Function {
    let fn = ir.addFunction("tfc.cpu.supported", ir.functionType(ir.i1, []), linkage: .internal)
    ir.addAttribute("nounwind", to: fn)
    compileForBaseline(fn, in: ir)
    let b = IRBuilder(ir, fn)
    let cache = ir.addGlobalInt32("tfc.cpu.answer", initial: 0)
    let known = b.atomicLoad(ir.i32, cache)
    b.returnIf(b.icmp(.ne, known, ir.i32(0)), b.icmp(.eq, known, ir.i32(1)))

    let i32 = ir.i32
    let regs = ir.structType([i32, i32, i32, i32])
    let cpuid = ir.inlineAsm(ir.functionType(regs, [i32, i32]), "cpuid",
                             constraints: "={ax},={bx},={cx},={dx},{ax},{cx}", sideEffects: false)
    func ask(_ leaf: Int, _ subleaf: Int) -> [Value] {
        let r = b.call(cpuid, [ir.i32(leaf), ir.i32(subleaf)])
        return (0..<4).map { b.extractValue(r, $0) }
    }
    func bit(_ word: Value, _ n: Int) -> Value {
        b.icmp(.ne, b.and(word, ir.i32(Int(Int32(bitPattern: UInt32(1) << UInt32(n))))), ir.i32(0))
    }
    let answer = b.alloca(ir.i1)
    b.store(ir.i1(false), answer)
    let tests = features.compactMap { X86FeatureTest.all[$0] }
    let maxLeaf = ask(0, 0)[0]
    let highest = tests.map(\.leaf).max() ?? 0
    // Leaves past the CPU's maximum return other leaves' data: no feature is there.
    b.ifThen(b.icmp(.uge, maxLeaf, ir.i32(highest))) {
        var ok = ir.i1(true)
        var leaves: [String: [Value]] = [:]
        for test in tests {
            let key = "\(test.leaf).\(test.subleaf)"
            let words = leaves[key] ?? ask(test.leaf, test.subleaf)
            leaves[key] = words
            ok = b.and(ok, bit(words[test.register], test.bit))
        }
        let xcr0Needed = tests.reduce(0) { $0 | $1.xcr0 }
        if xcr0Needed != 0 {
            // XGETBV exists when the OS has enabled XSAVE (CPUID.1:ECX.OSXSAVE, bit 27).
            let osxsave = bit(ask(1, 0)[2], 27)
            let enabled = b.alloca(ir.i1)
            b.store(ir.i1(false), enabled)
            b.ifThen(osxsave) {
                let xgetbv = ir.inlineAsm(ir.functionType(ir.structType([i32, i32]), [i32]), "xgetbv",
                                          constraints: "={ax},={dx},{cx}", sideEffects: true)
                let low = b.extractValue(b.call(xgetbv, [ir.i32(0)]), 0)
                b.store(b.icmp(.eq, b.and(low, ir.i32(xcr0Needed)), ir.i32(xcr0Needed)), enabled)
            }
            ok = b.and(ok, b.load(ir.i1, enabled))
        }
        b.store(ok, answer)
    }
    let result = b.load(ir.i1, answer)
    b.atomicStore(b.select(result, ir.i32(1), ir.i32(2)), cache)
    b.ret(result)
    return fn
}

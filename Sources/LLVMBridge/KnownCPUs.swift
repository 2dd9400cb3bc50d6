// The CPU names LLVM 19 knows for the targets tfc initializes (LLVMTargets), so that a bad `--cpu`
// is refused with the valid names instead of reaching LLVM, which warns and then aborts in code
// generation. LLVM's C API cannot list them; this table is `llc-19 -mtriple=<triple> -mcpu=help`,
// and a test (CodegenTests/TargetValidationTests) checks it against the installed llc-19.
// An x86 CPU without 64-bit mode makes LLVM abort on an x86-64 triple ("64-bit code requested on
// a subtarget that doesn't support it"), so those are listed apart and refused there (the same
// test checks that llc-19 aborts on exactly these).

enum KnownCPUs {
    /// x86 and x86-64 (one table in LLVM for both).
    static let x86: [String] = [
        "alderlake", "amdfam10", "arrowlake", "arrowlake-s", "arrowlake_s", "athlon", "athlon-4", "athlon-fx",
        "athlon-mp", "athlon-tbird", "athlon-xp", "athlon64", "athlon64-sse3", "atom", "atom_sse4_2",
        "atom_sse4_2_movbe", "barcelona", "bdver1", "bdver2", "bdver3", "bdver4", "bonnell", "broadwell",
        "btver1", "btver2", "c3", "c3-2", "cannonlake", "cascadelake", "clearwaterforest", "cooperlake",
        "core-avx-i", "core-avx2", "core2", "core_2_duo_sse4_1", "core_2_duo_ssse3", "core_2nd_gen_avx",
        "core_3rd_gen_avx", "core_4th_gen_avx", "core_4th_gen_avx_tsx", "core_5th_gen_avx",
        "core_5th_gen_avx_tsx", "core_aes_pclmulqdq", "core_i7_sse4_2", "corei7", "corei7-avx",
        "emeraldrapids", "generic", "geode", "goldmont", "goldmont-plus", "goldmont_plus", "gracemont",
        "grandridge", "graniterapids", "graniterapids-d", "graniterapids_d", "haswell", "i386", "i486", "i586",
        "i686", "icelake-client", "icelake-server", "icelake_client", "icelake_server", "ivybridge", "k6",
        "k6-2", "k6-3", "k8", "k8-sse3", "knl", "knm", "lakemont", "lunarlake", "meteorlake", "mic_avx512",
        "nehalem", "nocona", "opteron", "opteron-sse3", "pantherlake", "penryn", "pentium", "pentium-m",
        "pentium-mmx", "pentium2", "pentium3", "pentium3m", "pentium4", "pentium4m", "pentium_4",
        "pentium_4_sse3", "pentium_ii", "pentium_iii", "pentium_iii_no_xmm_regs", "pentium_m", "pentium_mmx",
        "pentium_pro", "pentiumpro", "prescott", "raptorlake", "rocketlake", "sandybridge", "sapphirerapids",
        "sierraforest", "silvermont", "skx", "skylake", "skylake-avx512", "skylake_avx512", "slm", "tigerlake",
        "tremont", "westmere", "winchip-c6", "winchip2", "x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4",
        "yonah", "znver1", "znver2", "znver3", "znver4", "znver5",
    ]

    /// x86 CPUs without 64-bit mode: valid for i386...i686 triples only.
    static let x86Only32Bit: Set<String> = [
        "athlon", "athlon-4", "athlon-mp", "athlon-tbird", "athlon-xp", "c3", "c3-2", "geode", "i386", "i486",
        "i586", "i686", "k6", "k6-2", "k6-3", "lakemont", "pentium", "pentium-m", "pentium-mmx", "pentium2",
        "pentium3", "pentium3m", "pentium4", "pentium4m", "pentium_4", "pentium_4_sse3", "pentium_ii",
        "pentium_iii", "pentium_iii_no_xmm_regs", "pentium_m", "pentium_mmx", "pentium_pro", "pentiumpro",
        "prescott", "winchip-c6", "winchip2", "yonah",
    ]

    /// AArch64 (also arm64, aarch64_be, arm64_32).
    static let aarch64: [String] = [
        "a64fx", "ampere1", "ampere1a", "ampere1b", "apple-a10", "apple-a11", "apple-a12", "apple-a13",
        "apple-a14", "apple-a15", "apple-a16", "apple-a17", "apple-a7", "apple-m4", "carmel", "cortex-a34",
        "cortex-a35", "cortex-a510", "cortex-a520", "cortex-a520ae", "cortex-a53", "cortex-a55", "cortex-a57",
        "cortex-a65", "cortex-a65ae", "cortex-a710", "cortex-a715", "cortex-a72", "cortex-a720",
        "cortex-a720ae", "cortex-a725", "cortex-a73", "cortex-a75", "cortex-a76", "cortex-a76ae", "cortex-a77",
        "cortex-a78", "cortex-a78ae", "cortex-a78c", "cortex-r82", "cortex-r82ae", "cortex-x1", "cortex-x1c",
        "cortex-x2", "cortex-x3", "cortex-x4", "cortex-x925", "exynos-m3", "exynos-m4", "exynos-m5", "falkor",
        "generic", "kryo", "neoverse-512tvb", "neoverse-e1", "neoverse-n1", "neoverse-n2", "neoverse-n3",
        "neoverse-v1", "neoverse-v2", "neoverse-v3", "neoverse-v3ae", "oryon-1", "saphira", "thunderx",
        "thunderx2t99", "thunderx3t110", "thunderxt81", "thunderxt83", "thunderxt88", "tsv110",
    ]

    /// AArch64 aliases LLVM accepts but `-mcpu=help` does not list (ProcessorAlias, e.g. apple-m1
    /// is apple-a14); the test checks that llc-19 takes each without a warning.
    static let aarch64Aliases: [String] = [
        "apple-a8", "apple-a9", "apple-m1", "apple-m2", "apple-m3", "apple-s4", "apple-s5", "cobalt-100", "grace",
    ]

    /// The SIMD features tfc chooses its code by, for each x86 CPU that has AVX: clang-19's
    /// predefined macros for `-march=<cpu>` (TargetValidationTests checks this table against
    /// clang-19 where it is installed). A CPU given by name (`--cpu znver4`) gets these as its
    /// feature string, so that its code uses them as the host's does.
    static let x86Features: [String: [String]] = {
        let groups: [(features: [String], cpus: [String])] = [
            (["avx"],
             ["bdver1", "btver2", "core-avx-i", "corei7-avx", "ivybridge", "sandybridge"]),
            (["avx", "fma"],
             ["bdver2", "bdver3"]),
            (["avx", "avx2", "fma"],
             ["alderlake", "arrowlake", "arrowlake-s", "bdver4", "broadwell", "clearwaterforest", "core-avx2",
              "gracemont", "grandridge", "haswell", "lunarlake", "meteorlake", "pantherlake", "raptorlake",
              "sierraforest", "skylake", "x86-64-v3", "znver1", "znver2", "znver3"]),
            (["avx", "avx2", "fma", "avx512f"],
             ["knl", "knm"]),
            (["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"],
             ["cannonlake", "cascadelake", "icelake-client", "icelake-server", "rocketlake", "skx", "skylake-avx512",
              "tigerlake", "x86-64-v4"]),
            (["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512bf16"],
             ["cooperlake", "znver4", "znver5"]),
            (["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512bf16", "amx-tile", "amx-bf16"],
             ["emeraldrapids", "graniterapids", "graniterapids-d", "sapphirerapids"]),
        ]
        return Dictionary(uniqueKeysWithValues: groups.flatMap { group in group.cpus.map { ($0, group.features) } })
    }()

    /// The features of x86 CPU `name` (an LLVM alias spelled with '_' as its '-' form), or nil
    /// for a CPU without AVX.
    static func x86Features(of name: String) -> [String]? {
        x86Features[name] ?? x86Features[String(name.map { $0 == "_" ? "-" : $0 })]
    }
}

// Deterministic, portable random numbers for parameter initialization (exact algorithm in Docs/weights.md).
//
// Every parameter draws from its own stream, keyed by (model seed, parameter name) through
// FNV-1a and SplitMix64, so its values depend on nothing else: adding, removing or changing
// one parameter leaves the others' values alone. Swift's Hasher is not used because it is
// seeded differently in every process.

import Foundation  // log, sin, cos

/// SplitMix64 (Steele, Lea and Flood, 2014): expands one 64-bit seed into a stream of
/// well-mixed words; used to seed xoshiro256**.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// The SplitMix64 output function: a bijective 64-bit mixer.
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** 1.0 (Blackman and Vigna, 2018), its four state words seeded by SplitMix64.
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
    private var s0, s1, s2, s3: UInt64

    public init(seed: UInt64) {
        var seeder = SplitMix64(seed: seed)
        // SplitMix64 never yields four zero words in a row, so the state is never all zero.
        (s0, s1, s2, s3) = (seeder.next(), seeder.next(), seeder.next(), seeder.next())
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// 64-bit FNV-1a of the UTF-8 bytes of `text`.
public func fnv1a64(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01B3
    }
    return hash
}

/// The random stream of one parameter: xoshiro256** seeded with
/// `SplitMix64.mix(seed) ^ fnv1a64(name)`. Samples are computed in Double and rounded once,
/// to Float (or, for a bf16 parameter, by the weight loader to bf16).
public struct ParamRandom: Sendable {
    private var generator: Xoshiro256StarStar
    /// Box–Muller yields normals in pairs; the second one is kept for the next call.
    private var spareNormal: Double?

    public init(seed: UInt64, name: String) {
        generator = Xoshiro256StarStar(seed: SplitMix64.mix(seed) ^ fnv1a64(name))
    }

    /// Uniform in [0, 1): the top 53 bits of the next word.
    public mutating func nextUnit() -> Double {
        Double(generator.next() >> 11) * 0x1p-53
    }

    /// Standard normal by the Box–Muller transform (both outputs used, cosine first).
    public mutating func nextStandardNormal() -> Double {
        if let z = spareNormal {
            spareNormal = nil
            return z
        }
        let u1 = 1.0 - nextUnit()  // in (0, 1], so log(u1) is finite
        let u2 = nextUnit()
        let radius = (-2.0 * log(u1)).squareRoot()
        let angle = 2.0 * Double.pi * u2
        spareNormal = radius * sin(angle)
        return radius * cos(angle)
    }

    public mutating func normal(mean: Double, std: Double) -> Float {
        Float(mean + std * nextStandardNormal())
    }

    public mutating func uniform(low: Double, high: Double) -> Float {
        Float(low + (high - low) * nextUnit())
    }

    /// `count` samples of normal(mean, std).
    public mutating func normals(_ count: Int, mean: Double, std: Double) -> [Float] {
        (0..<count).map { _ in normal(mean: mean, std: std) }
    }

    /// `count` samples of uniform(low, high).
    public mutating func uniforms(_ count: Int, low: Double, high: Double) -> [Float] {
        (0..<count).map { _ in uniform(low: low, high: high) }
    }

    /// The same samples as `normals`, before rounding: a bf16 parameter rounds each once.
    public mutating func normalValues(_ count: Int, mean: Double, std: Double) -> [Double] {
        (0..<count).map { _ in mean + std * nextStandardNormal() }
    }

    /// The same samples as `uniforms`, before rounding.
    public mutating func uniformValues(_ count: Int, low: Double, high: Double) -> [Double] {
        (0..<count).map { _ in low + (high - low) * nextUnit() }
    }
}

// A profiled build times each op's function; the times are real (positive, within the calls'
// wall time) and the outputs are those of the unprofiled build.
import Foundation
import Testing
import TIR
import TIRCodegen

@Test func aProfiledBuildTimesEveryOpAndComputesTheSame() throws {
    let (module, weights) = try load(path: examplePath("gpt-tiny.tir"))
    let plain = try JITModel(module, weights: weights, threads: 1)
    let profiled = try JITModel(module, weights: weights, threads: 1, profile: true)
    #expect(plain.opTimes.isEmpty)
    let inputs = randomInputs(module, seqLen: 17, seed: 4)
    let start = DispatchTime.now().uptimeNanoseconds
    var outputs: [String: HostTensor] = [:]
    for _ in 0..<3 { outputs = try profiled.run(inputs: inputs) }
    let wall = Int64(DispatchTime.now().uptimeNanoseconds - start)
    #expect(outputs == (try plain.run(inputs: inputs)))
    let times = profiled.opTimes
    // One entry per op that is not computed inside another's GEMM epilogue, in program order.
    let names = times.map(\.op.result)
    #expect(names.count > 10 && names.count < module.body.count)
    #expect(names == module.body.map(\.result).filter { names.contains($0) })
    #expect(times.allSatisfy { $0.nanoseconds > 0 }, "\(times.map(\.nanoseconds))")
    #expect(times.map(\.nanoseconds).reduce(0, +) <= wall)
    profiled.resetProfile()
    #expect(profiled.opTimes.allSatisfy { $0.nanoseconds == 0 })
}

// Fuzzes the .npy reader (`readNpy(path:)`, the public entry point, so each input is written to
// a scratch file first). Any input may be rejected with a diagnostic; none may crash, hang or
// allocate beyond its own size.
import FuzzSupport
import TIR
import TIRFormats

let path = scratchFolder + "/input.npy"

runFuzzer { data in
    writeInput(data, to: path)
    do throws(Diagnostic) {
        let tensor = try readNpy(path: path)
        guard tensor.shape.allSatisfy({ $0 >= 0 }), tensor.shape.reduce(1, *) == tensor.count else {
            fail("shape \(tensor.shape) does not match \(tensor.count) values")
        }
        // Elements come from the file: never more of them than bytes.
        guard tensor.count <= data.count else { fail("\(tensor.count) values from \(data.count) bytes") }
    } catch {
        _ = error.description
    }
}

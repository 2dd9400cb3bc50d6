// Fuzzes the safetensors reader: open an in-memory image, then convert every tensor. Any input
// may be rejected with a diagnostic; none may crash, hang or allocate beyond its own size.
import Foundation
import FuzzSupport
import TIR

runFuzzer { data in
    let file: SafetensorsFile
    do throws(Diagnostic) {
        file = try SafetensorsFile(bytes: Data(data), path: "fuzz.safetensors")
    } catch {
        _ = error.description
        return
    }
    for entry in file.entries {
        guard file.entry(named: entry.name) != nil else { fail("entry '\(entry.name)' cannot be looked up") }
        guard entry.dataOffsets.upperBound <= data.count else { fail("entry '\(entry.name)' runs past the input") }
        do throws(Diagnostic) {
            let tensor = try file.tensor(entry)
            guard tensor.shape == entry.shape, tensor.count == entry.elementCount else {
                fail("tensor '\(entry.name)': shape \(tensor.shape) (\(tensor.count) values), header says \(entry.shape)")
            }
        } catch {
            _ = error.description
        }
    }
}

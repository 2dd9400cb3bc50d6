// Progress of long commands on a terminal: the current stage on one line of stderr, updated in
// place with the seconds spent so far, and a last line with the time each stage took. Nothing
// at all when stderr is not a terminal or with --quiet, and never anything on stdout.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class Progress: @unchecked Sendable {
    /// Shows nothing.
    public static let silent = Progress(command: "", enabled: false)

    private let command: String
    public let enabled: Bool
    private let write: @Sendable (String) -> Void
    private let lock = NSLock()
    private let started = Date()
    private var stage: (name: String, start: Date)?
    private var done: [(name: String, seconds: Double)] = []
    private var timer: DispatchSourceTimer?

    /// `write` receives the text for stderr (default: the process's stderr).
    public init(command: String, enabled: Bool,
                write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.command = command
        self.enabled = enabled
        self.write = write
    }

    /// Progress for `command`, shown when stderr is a terminal and `quiet` is false.
    public static func onTerminal(command: String, quiet: Bool) -> Progress {
        Progress(command: command, enabled: !quiet && isatty(STDERR_FILENO) == 1)
    }

    deinit { timer?.cancel() }

    /// Ends the current stage (if any) and starts `name`.
    public func begin(_ name: String) {
        guard enabled else { return }
        lock.lock()
        endStageLocked()
        stage = (name, Date())
        drawLocked()
        if timer == nil {
            let t = DispatchSource.makeTimerSource(queue: DispatchQueue.global())
            t.schedule(deadline: .now() + 0.25, repeating: 0.25)
            t.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                self.drawLocked()
                self.lock.unlock()
            }
            t.resume()
            timer = t
        }
        lock.unlock()
    }

    /// Ends the last stage and replaces the line with the total and each stage's time.
    public func finish() {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        timer?.cancel()
        timer = nil
        endStageLocked()
        guard !done.isEmpty else { return }
        let total = Date().timeIntervalSince(started)
        let parts = done.map { "\($0.name) \(seconds($0.seconds))" }.joined(separator: ", ")
        write("\r\u{1B}[K\(command): done in \(seconds(total)) (\(parts))\n")
        done = []
    }

    /// Clears the line without a summary (before an error is printed).
    public func abandon() {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        timer?.cancel()
        timer = nil
        if stage != nil || !done.isEmpty { write("\r\u{1B}[K") }
        stage = nil
        done = []
    }

    private func endStageLocked() {
        if let stage { done.append((stage.name, Date().timeIntervalSince(stage.start))) }
        stage = nil
    }

    private func drawLocked() {
        guard let stage else { return }
        write("\r\u{1B}[K\(command): \(stage.name)... \(seconds(Date().timeIntervalSince(stage.start)))")
    }

    private func seconds(_ s: Double) -> String { String(format: "%.1f s", s) }
}

import ArgumentParser
import DeviceEmulator
import FiscalCore
import Foundation

/// `fiscal-mediator verify-journal PATH`: checks a journal's chain and signatures.
struct VerifyJournalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-journal",
        abstract: "Check a device journal (a state directory or a DUMPLOG export).",
        discussion: "Exit status 0 when every entry checks out; 1 with the first bad entry named otherwise."
    )

    @Argument(help: "An emulator state directory, or an export written by `device dump-log --out FILE`.")
    var path: String

    @Option(
        help: "The device's public key (hex) as registered with the tax authority; default: the one beside the journal."
    )
    var publicKey: String?

    func run() throws {
        do {
            let outcome = try JournalAudit.verify(path: URL(fileURLWithPath: path), publicKeyHex: publicKey)
            print(
                "OK: \(outcome.entries) entries of device \(outcome.deviceID), chain and signatures valid, head at \(outcome.lastSeq)"
            )
        } catch let failure as JournalVerifier.Failure {
            print("FAILED: \(failure)")
            throw ExitCode(1)
        } catch let error as FiscalError {
            print("error: \(error.code): \(error.message)")
            throw ExitCode(2)
        }
    }
}

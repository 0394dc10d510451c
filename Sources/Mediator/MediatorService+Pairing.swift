import FiscalCore
import Foundation
import Logging
import MediatorStore
import Synchronization
import ZeroMQ

/// CURVE admission (the ZAP handler's decisions) and pairing.
///
/// The terminal socket admits a client key only when the registry pins it to a terminal; the
/// pairing socket admits any key, and there the one message read is PAIR: a valid one-time code
/// pins the key that connection's handshake proved (its `User-Id`) to the code's terminal.
/// Attempts are rate-limited per peer address and overall, so guessing a code (31⁸ of them,
/// valid 15 minutes) is hopeless.
extension MediatorService {
    /// The ZAP handler's decision for one handshake.
    func admit(_ request: ZAPHandler.Request) async -> ZAPHandler.Decision {
        guard request.mechanism == "CURVE", let key = request.clientKey else {
            gateway.counters.refusedValue.add(1, ordering: .relaxed)
            return .refuse(reason: "CURVE only")
        }
        switch request.domain {
        case Gateway.pairingDomain:
            return .admit(userID: key.z85)
        case Gateway.terminalDomain:
            do {
                guard try await store.terminalRecord(forKey: key.z85) != nil else {
                    gateway.counters.refusedValue.add(1, ordering: .relaxed)
                    logger.notice(
                        "refused an unpaired key",
                        metadata: ["key": "\(key.fingerprint)", "peer": "\(PeerText.escaped(request.address))"]
                    )
                    return .refuse(reason: "key not paired")
                }
                gateway.counters.admittedValue.add(1, ordering: .relaxed)
                return .admit(userID: key.z85)
            } catch {
                gateway.counters.refusedValue.add(1, ordering: .relaxed)
                // Fail closed: a registry that cannot be read admits nobody.
                return .refuse(reason: "registry unavailable")
            }
        default:
            return .refuse(reason: "unknown domain")
        }
    }

    /// Reads the pairing socket until it stops.
    func readPairing() async {
        guard let pairing = gateway.pairing else { return }
        let limiter = PairingLimiter()
        for await message in pairing.inbound {
            guard message.frames.count == 2, let peer = message.frames.first else { continue }
            let request = try? JSONDecoder().decode(PairingRequest.self, from: Data(message.frames[1]))
            let reply: PairingReply
            if let wait = limiter.take(address: message.peerAddress ?? "?", now: .now) {
                reply = PairingReply(
                    msgID: request?.msgID,
                    error: FiscalError(.rateLimited, "too many pairing attempts; wait"),
                    retryAfterMs: Int(wait.wholeMilliseconds)
                )
            } else if let request {
                reply = await pair(request, key: message.userID, peerAddress: message.peerAddress)
            } else {
                reply = PairingReply(
                    msgID: nil,
                    error: FiscalError(.messageInvalid, "the pairing endpoint reads only PAIR {code}")
                )
            }
            // A reply the encoder refuses (a fault of the mediator) still answers the peer.
            let json: [UInt8]
            do {
                json = Array(try Gateway.encoder.encode(reply))
            } catch {
                json = Array(#"{"v":1,"type":"PAIR","status":"ERR","code":"REPLY_UNENCODABLE"}"#.utf8)
            }
            gateway.sendPairing(json, to: peer)
        }
    }

    private func pair(_ request: PairingRequest, key: String?, peerAddress: String?) async -> PairingReply {
        guard let key, CurveKey(z85: key) != nil else {
            return PairingReply(msgID: request.msgID, error: FiscalError(.pairingRefused, "no CURVE key"))
        }
        do {
            let terminal = try await store.redeemPairingCode(request.code, key: key)
            logger.notice(
                "terminal paired",
                metadata: [
                    "terminal.id": "\(terminal.code)", "key": "\(key.prefix(8))",
                    "peer": "\(PeerText.escaped(peerAddress ?? "?"))",
                ]
            )
            return PairingReply(msgID: request.msgID, terminalID: terminal.code.rawValue)
        } catch {
            logger.notice(
                "pairing refused",
                metadata: ["error": "\(error.code)", "peer": "\(PeerText.escaped(peerAddress ?? "?"))"]
            )
            return PairingReply(msgID: request.msgID, error: error)
        }
    }
}

/// Pairing attempts allowed: per peer address 5 at once then one every 12 s, and 20 at once
/// then one every 3 s overall (a LAN host with many addresses still gets only the overall rate).
final class PairingLimiter: Sendable {
    private let state = Mutex<(perAddress: [String: TokenBucket], overall: TokenBucket)>(
        ([:], TokenBucket(rate: 1.0 / 3, burst: 20))
    )

    func take(address: String, now: ContinuousClock.Instant) -> Duration? {
        state.withLock { state in
            if state.perAddress.count > 4096 { state.perAddress.removeAll() }
            var bucket = state.perAddress[address] ?? TokenBucket(rate: 1.0 / 12, burst: 5)
            defer { state.perAddress[address] = bucket }
            if let wait = bucket.take(now: now) { return wait }
            return state.overall.take(now: now)
        }
    }
}

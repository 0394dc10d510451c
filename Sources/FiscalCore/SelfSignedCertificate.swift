import COpenSSL

#if canImport(Glibc)
import Glibc
#endif

/// A self-signed TLS certificate and its private key, as PEM text: what `serve` makes at first
/// start for an ops API bound to a LAN address, and whose fingerprint it prints so a client
/// can pin it. Values only: the caller writes the files.
public struct SelfSignedCertificate: Sendable, Hashable {
    public var certificatePEM: String
    public var privateKeyPEM: Secret

    public init(certificatePEM: String, privateKeyPEM: Secret) {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }

    /// A new P-256 key and a certificate for `commonName`, valid for `days`.
    public static func make(commonName: String, days: Int = 3650) throws(FiscalError) -> SelfSignedCertificate {
        var certificate: UnsafeMutablePointer<CChar>?
        var key: UnsafeMutablePointer<CChar>?
        guard fm_self_signed_certificate(commonName, days, &certificate, &key) == 1, let certificate, let key else {
            throw FiscalError(.configInvalid, "cannot make a self-signed certificate (OpenSSL)")
        }
        defer {
            free(certificate)
            free(key)
        }
        return SelfSignedCertificate(
            certificatePEM: String(cString: certificate),
            privateKeyPEM: Secret(String(cString: key))
        )
    }

    /// `SHA256:` and the hex SHA-256 of a PEM certificate's DER bytes, colon-separated
    /// (`openssl x509 -fingerprint -sha256` prints the same digits); nil if it is not one.
    public static func fingerprint(ofPEM pem: String) -> String? {
        var digest = [UInt8](repeating: 0, count: 32)
        guard fm_certificate_sha256(pem, &digest) == 1 else { return nil }
        return "SHA256:"
            + digest.map { ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true) }.joined(separator: ":")
    }
}

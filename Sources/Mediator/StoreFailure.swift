import FiscalCore

/// Store errors as the terminals and the device core see them: a ``FiscalError`` stays what it
/// is (a refused write the store itself explains); anything else (SQLite's "database or disk is
/// full", a busy lock, an I/O error) is STORE_UNAVAILABLE with the store's own words.
enum StoreFailure {
    static func fiscal(_ error: any Error) -> FiscalError {
        if let error = error as? FiscalError { return error }
        return FiscalError(.storeUnavailable, "the store failed: \(error)")
    }
}

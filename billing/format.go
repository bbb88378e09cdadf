package billing

import "creditdesk/storage"

// Credits writes a number of credits with thousands separators: 2,500.
func Credits(n int64) string { return storage.FormatCredits(n) }

package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/plugboard/plugboard/registry"
)

// rateLimitColumn is the value of a rate_limit column: the quota's JSON,
// or NULL for none.
func rateLimitColumn(l *registry.RateLimit) (any, error) {
	if l == nil {
		return nil, nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("encode rate_limit: %w", err)
	}
	return string(b), nil
}

// decodeRateLimit reads a rate_limit column (NULL: none).
func decodeRateLimit(v sql.Null[[]byte], what string) (*registry.RateLimit, error) {
	if !v.Valid || len(v.V) == 0 || string(v.V) == "null" {
		return nil, nil
	}
	var l registry.RateLimit
	if err := json.Unmarshal(v.V, &l); err != nil {
		return nil, fmt.Errorf("decode %s: %w", what, err)
	}
	return &l, nil
}

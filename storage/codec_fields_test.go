package storage

import (
	"reflect"
	"testing"
	"time"

	"creditdesk/billing"
)

// fillEvery sets every field of the struct v points at to a value that is
// not its zero value (and differs between fields), so a round trip that
// drops a field is seen.
func fillEvery(t *testing.T, v reflect.Value) {
	t.Helper()
	at := time.Date(2026, 12, 2, 1, 2, 3, 4, time.UTC)
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Type() == reflect.TypeOf(time.Time{}):
			f.Set(reflect.ValueOf(at.Add(time.Duration(i) * time.Hour)))
		case f.Kind() == reflect.String:
			f.SetString("v" + v.Type().Field(i).Name)
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.CanInt():
			f.SetInt(int64(-1000 - i))
		case f.CanUint():
			f.SetUint(uint64(1000 + i))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf([]string{"a", "b"}).Convert(f.Type()))
		default:
			t.Fatalf("%s.%s is a %s: teach fillEvery and the record's codec about it", v.Type(), v.Type().Field(i).Name, f.Type())
		}
	}
}

// Every field of the records stored in a binary layout survives the round
// trip. A field added to one of these types fails here until its codec (and
// a migration, if the layout changes) carries it: a binary codec, unlike
// JSON, would drop it silently.
func TestBinaryCodecsCarryEveryField(t *testing.T) {
	var rec billing.EventRecord
	fillEvery(t, reflect.ValueOf(&rec).Elem())
	if got, err := decodeEvent(encodeEvent(rec)); err != nil || !reflect.DeepEqual(got, rec) {
		t.Errorf("EventRecord: %+v\nbecame %+v (%v): a field is missing from encodeEvent/decodeEvent (inbox.go)", rec, got, err)
	}
	var e billing.Entry
	fillEvery(t, reflect.ValueOf(&e).Elem())
	if got, err := decodeEntry(encodeEntry(e)); err != nil || !reflect.DeepEqual(got, e) {
		t.Errorf("Entry: %+v\nbecame %+v (%v): a field is missing from encodeEntry/decodeEntry (ledger.go)", e, got, err)
	}
	var g billing.Grant
	fillEvery(t, reflect.ValueOf(&g).Elem())
	if got, err := decodeGrant(encodeGrant(g)); err != nil || !reflect.DeepEqual(got, g) {
		t.Errorf("Grant: %+v\nbecame %+v (%v): a field is missing from encodeGrant/decodeGrant (ledger.go)", g, got, err)
	}
	var u billing.User
	fillEvery(t, reflect.ValueOf(&u).Elem())
	if got, err := decodeUser(encodeUser(u)); err != nil || !reflect.DeepEqual(got, u) {
		t.Errorf("User: %+v\nbecame %+v (%v): a field is missing from encodeUser/decodeUser (ledger.go)", u, got, err)
	}
}

package cache

import (
	"reflect"
	"testing"

	"github.com/agentgate/agentgate/adapters"
	"github.com/agentgate/agentgate/state"
)

// fill sets every field reachable from v to a non-zero value: pointers
// allocated, slices and maps given one element.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		if v.Type().PkgPath() == "time" { // time.Time: leave it be
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i))
		}
	case reflect.Interface, reflect.Func, reflect.Chan:
		panic("fill: unsupported kind " + v.Kind().String() + " in " + v.Type().String())
	}
}

// shared reports the path of a pointer, slice or map that a and b (equal
// types) have in common.
func shared(a, b reflect.Value, path string) string {
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return ""
		}
		if a.Pointer() == b.Pointer() {
			return path
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := range a.NumField() {
			if !a.Type().Field(i).IsExported() {
				continue
			}
			if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
				return p
			}
		}
	case reflect.Slice:
		if a.Len() > 0 && b.Len() > 0 && a.Pointer() == b.Pointer() {
			return path
		}
		for i := range min(a.Len(), b.Len()) {
			if p := shared(a.Index(i), b.Index(i), path+"[i]"); p != "" {
				return p
			}
		}
	case reflect.Map:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			return path
		}
		for _, k := range a.MapKeys() {
			if bv := b.MapIndex(k); bv.IsValid() {
				if p := shared(a.MapIndex(k), bv, path+"[k]"); p != "" {
					return p
				}
			}
		}
	case reflect.Array:
		for i := range a.Len() {
			if p := shared(a.Index(i), b.Index(i), path+"[i]"); p != "" {
				return p
			}
		}
	}
	return ""
}

func TestCloneIsDeep(t *testing.T) {
	for _, tc := range []struct {
		name  string
		orig  any
		clone func(any) any
	}{
		{"Agent", new(adapters.Agent), func(v any) any { return cloneAgent(v.(*adapters.Agent)) }},
		{"APIKey", new(state.APIKey), func(v any) any { return cloneKey(v.(*state.APIKey)) }},
		{"AgentVersion", new(state.AgentVersion), func(v any) any { return cloneVersion(v.(*state.AgentVersion)) }},
		{"Tier", new(state.Tier), func(v any) any { return cloneTier(v.(*state.Tier)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fill(reflect.ValueOf(tc.orig).Elem())
			c := tc.clone(tc.orig)
			if !reflect.DeepEqual(c, tc.orig) {
				t.Fatalf("clone differs:\n got %+v\nwant %+v", c, tc.orig)
			}
			if p := shared(reflect.ValueOf(tc.orig), reflect.ValueOf(c), tc.name); p != "" {
				t.Fatalf("clone shares %s with the original: update clone.go", p)
			}
		})
	}
}

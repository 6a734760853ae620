package main

// Argo CD's health evaluation of a custom Lua health check, replicated from
// github.com/argoproj/argo-cd (util/lua/lua.go and
// gitops-engine/pkg/health/health.go at commit 37ee0097cf, Apache-2.0) with
// the same gopher-lua and gopher-json versions that commit pins.
//
// Why replicated and not imported: util/lua imports Argo CD's Application
// API types (pkg/apis/application/v1alpha1), which pull in util/git,
// util/helm, util/oci, util/rbac, workload identity (Azure SDK) and the
// gitops-engine module, which Argo CD's go.mod only resolves through a local
// `replace ... => ./gitops-engine`. Argo CD also pins every k8s.io module to
// v0.36.1 with replace directives, while this program (like
// tests/controlplane) sits on v0.37.2: one Go module graph cannot hold both.
// Importing it would mean a second program, hundreds of modules to download
// and minutes of compiling on the shared 2 cores, for about 80 lines that
// decide the result. Those lines are copied below unchanged in behaviour:
//   - lua.NewState with SkipOpenLibs unless useOpenLibs (argocd-cm
//     `resource.customizations.useOpenLibs.<group>_<kind>`; false by default
//     for a script from argocd-cm, so no `string` or `math` library);
//   - then package, base, table and Argo CD's safe os library opened, os
//     preloaded for require;
//   - a 1 s context timeout, an empty `actionParams` table;
//   - `obj` built by decodeValue from the unstructured object (JSON
//     integers arrive as int64 and become Lua numbers);
//   - the returned table encoded with gopher-json and decoded into
//     {status, message}; an unknown status becomes Unknown/"Lua returned an
//     invalid health status";
//   - health.GetResourceHealth: an object being deleted is Progressing
//     ("Pending deletion") before any script runs; a script error becomes
//     Unknown with the error as message.
// The compiled-script cache of lua.go is left out: it only avoids parsing
// the same source twice.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	luajson "layeh.com/gopher-json"
)

const (
	incorrectReturnType = "expect %s output from Lua script, not %s"
	invalidHealthStatus = "Lua returned an invalid health status"
)

type healthStatus struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

func isValidHealthStatusCode(code string) bool {
	switch code {
	case "Unknown", "Progressing", "Suspended", "Healthy", "Degraded", "Missing":
		return true
	}
	return false
}

// argoResourceHealth is gitops-engine's health.GetResourceHealth with the
// Lua override as the only health check (crossdeploy kinds have no built-in
// one).
func argoResourceHealth(obj *unstructured.Unstructured, script string, useOpenLibs bool) (*healthStatus, error) {
	if obj.GetDeletionTimestamp() != nil {
		return &healthStatus{Status: "Progressing", Message: "Pending deletion"}, nil
	}
	h, err := executeHealthLua(obj, script, useOpenLibs)
	if err != nil {
		return &healthStatus{Status: "Unknown", Message: err.Error()},
			fmt.Errorf("failed to get resource health for %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return h, nil
}

func runLua(obj *unstructured.Unstructured, script string, useOpenLibs bool) (*lua.LState, error) {
	l := lua.NewState(lua.Options{
		SkipOpenLibs: !useOpenLibs,
	})
	// Opens table library to allow access to functions to manipulate tables
	for _, pair := range []struct {
		n string
		f lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		// load our 'safe' version of the OS library
		{lua.OsLibName, OpenSafeOs},
	} {
		if err := l.CallByParam(lua.P{
			Fn:      l.NewFunction(pair.f),
			NRet:    0,
			Protect: true,
		}, lua.LString(pair.n)); err != nil {
			panic(err)
		}
	}
	// preload our 'safe' version of the OS library. Allows the 'local os = require("os")' to work
	l.PreloadModule(lua.OsLibName, SafeOsLoader)

	ctx, cancel := context.WithTimeout(context.Background(), 1*time.Second)
	defer cancel()
	l.SetContext(ctx)

	l.SetGlobal("actionParams", l.CreateTable(0, 0))

	objectValue := decodeValue(l, obj.Object)
	l.SetGlobal("obj", objectValue)

	fn, err := l.LoadString(script)
	if err == nil {
		l.Push(fn)
		err = l.PCall(0, lua.MultRet, nil)
	}

	// Remove the default lua stack trace from execution errors since these
	// errors will make it back to the user
	var apiErr *lua.ApiError
	if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorRun {
		apiErr.StackTrace = ""
		err = apiErr
	}
	return l, err
}

func executeHealthLua(obj *unstructured.Unstructured, script string, useOpenLibs bool) (*healthStatus, error) {
	l, err := runLua(obj, script, useOpenLibs)
	defer l.Close()
	if err != nil {
		return nil, err
	}
	returnValue := l.Get(-1)
	if returnValue.Type() == lua.LTTable {
		jsonBytes, err := luajson.Encode(returnValue)
		if err != nil {
			return nil, err
		}
		hs := &healthStatus{}
		err = json.Unmarshal(jsonBytes, hs)
		if err != nil {
			// Validate if the error is caused by an empty object
			typeError := &json.UnmarshalTypeError{Value: "array", Type: reflect.TypeFor[*healthStatus]()}
			if errors.As(err, &typeError) {
				return &healthStatus{}, nil
			}
			return nil, err
		}
		if !isValidHealthStatusCode(hs.Status) {
			return &healthStatus{Status: "Unknown", Message: invalidHealthStatus}, nil
		}
		return hs, nil
	} else if returnValue.Type() == lua.LTNil {
		return &healthStatus{}, nil
	}
	return nil, fmt.Errorf(incorrectReturnType, "table", returnValue.Type().String())
}

// decodeValue is Argo CD's conversion of the unstructured object to Lua.
func decodeValue(l *lua.LState, value any) lua.LValue {
	switch converted := value.(type) {
	case bool:
		return lua.LBool(converted)
	case float64:
		return lua.LNumber(converted)
	case string:
		return lua.LString(converted)
	case json.Number:
		return lua.LString(converted)
	case int:
		return lua.LNumber(converted)
	case int32:
		return lua.LNumber(converted)
	case int64:
		return lua.LNumber(converted)
	case []any:
		arr := l.CreateTable(len(converted), 0)
		for _, item := range converted {
			arr.Append(decodeValue(l, item))
		}
		return arr
	case map[string]any:
		tbl := l.CreateTable(0, len(converted))
		for key, item := range converted {
			tbl.RawSetH(lua.LString(key), decodeValue(l, item))
		}
		return tbl
	case nil:
		return lua.LNil
	}

	return lua.LNil
}

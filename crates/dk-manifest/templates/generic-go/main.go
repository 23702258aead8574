// {{name}}: pseudonymise customer records.
//
// `dk run` starts this program and describes its data through the runtime contract: the file
// named by DK_CONTEXT lists every input and output with its location (docs/runtime-contract.md).
package main

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type dataset struct {
	Name     string `json:"name"`
	Location string `json:"location"`
}

type runContext struct {
	Mode    string    `json:"mode"`
	Inputs  []dataset `json:"inputs"`
	Outputs []dataset `json:"outputs"`
}

func loadContext() (runContext, error) {
	var ctx runContext
	path := os.Getenv("DK_CONTEXT")
	if path == "" {
		return ctx, fmt.Errorf("DK_CONTEXT is not set: run this pipeline with `dk run`")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return ctx, err
	}
	return ctx, json.Unmarshal(data, &ctx)
}

func runOnce(source, target string) (int, error) {
	in, err := os.Open(source)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	records, err := csv.NewReader(in).ReadAll()
	if err != nil || len(records) == 0 {
		return 0, err
	}
	column := map[string]int{}
	for i, name := range records[0] {
		column[name] = i
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return 0, err
	}
	out, err := os.Create(target)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	writer := csv.NewWriter(out)
	writer.Write([]string{"id", "email_hash", "country", "signup_month"})
	for _, row := range records[1:] {
		sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(row[column["email"]]))))
		date := row[column["signup_date"]]
		if len(date) > 7 {
			date = date[:7]
		}
		writer.Write([]string{row[column["id"]], hex.EncodeToString(sum[:]), row[column["country"]], date})
	}
	writer.Flush()
	return len(records) - 1, writer.Error()
}

func main() {
	ctx, err := loadContext()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	source, target := ctx.Inputs[0].Location, ctx.Outputs[0].Location
	if ctx.Mode != "streaming" {
		rows, err := runOnce(source, target)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("wrote %d rows to %s\n", rows, target)
		return
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	for {
		if _, err := runOnce(source, target); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Second):
		}
	}
}

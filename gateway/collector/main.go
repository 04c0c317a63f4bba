// Program otelcol-gw is the otel-discord gateway: a small OpenTelemetry Collector
// distribution (OTLP in -> memory_limiter, batch -> otlp_http / otlp_grpc / debug out,
// with a file_storage-backed persistent sending queue).
//
// It is the hand-written equivalent of what the collector builder (ocb) generates
// (cmd/otelcorecol main.go + main_others.go), Linux/macOS only: with a committed
// go.mod and go.sum, a plain `go build` needs nothing but the Go module proxy.
package main

import (
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	envprovider "go.opentelemetry.io/collector/confmap/provider/envprovider"
	fileprovider "go.opentelemetry.io/collector/confmap/provider/fileprovider"
	yamlprovider "go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
)

func main() {
	info := component.BuildInfo{
		Command: "otelcol-gw",
		// Also the User-Agent prefix of the otlp_http exporter, so the bridge's
		// access log shows which gateway sent a request.
		Description: "otel-discord gateway OpenTelemetry Collector",
		Version:     "0.165.0-gw.1",
	}

	set := otelcol.CollectorSettings{
		BuildInfo: info,
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				// env: is what makes ${env:VAR:-default} work in collector-config.yaml.
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
			},
		},
		ProviderModules: map[string]string{
			envprovider.NewFactory().Create(confmap.ProviderSettings{}).Scheme():  "go.opentelemetry.io/collector/confmap/provider/envprovider v1.71.0",
			fileprovider.NewFactory().Create(confmap.ProviderSettings{}).Scheme(): "go.opentelemetry.io/collector/confmap/provider/fileprovider v1.71.0",
			yamlprovider.NewFactory().Create(confmap.ProviderSettings{}).Scheme(): "go.opentelemetry.io/collector/confmap/provider/yamlprovider v1.71.0",
		},
		ConverterModules: []string{},
	}

	if err := otelcol.NewCommand(set).Execute(); err != nil {
		// cobra has already printed the error; printing it again would only confuse.
		os.Exit(1)
	}
}

package caddymodule

import (
	"github.com/agentgate/agentgate/engine/models"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// PassthroughConfig configures the OpenAI endpoints agentgate does not
// translate (files, batches, images, audio, moderations, completions, …),
// which it passes to an OpenAI-compatible provider as they came.
// Passthrough is on unless disabled.
type PassthroughConfig struct {
	// Disabled turns passthrough off: such paths go to the site's next
	// handler (and without one get OpenAI's JSON 404).
	Disabled bool `json:"disabled,omitempty"`
	// DefaultProvider serves requests that name no model (listing files,
	// creating a batch…). Default: the only OpenAI-compatible provider,
	// when there is exactly one.
	DefaultProvider string `json:"default_provider,omitempty"`
}

// config is the engine's form of c.
func (c *PassthroughConfig) config() models.PassthroughConfig {
	if c == nil {
		return models.PassthroughConfig{}
	}
	return models.PassthroughConfig{Disabled: c.Disabled, DefaultProvider: c.DefaultProvider}
}

// parsePassthrough parses
//
//	passthrough off | <default provider>
func parsePassthrough(d *caddyfile.Dispenser, app *App) error {
	var v string
	if err := oneArg(d, &v); err != nil {
		return err
	}
	if v == "off" {
		app.Passthrough = &PassthroughConfig{Disabled: true}
		return nil
	}
	app.Passthrough = &PassthroughConfig{DefaultProvider: v}
	return nil
}

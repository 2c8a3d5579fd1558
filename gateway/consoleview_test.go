package main

import (
	"reflect"
	"testing"
	"time"

	"leadgate/gateway/console"
	"leadgate/gateway/deliver"
	"leadgate/gateway/leadsquared"
	"leadgate/gateway/server"
)

func TestConsoleSubscription(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	base := leadsquared.Subscription{ID: "s1", Description: "CRM", URL: "https://crm.example/hook?token=x",
		Method: "POST", ContentType: "application/json", Event: "lead.created", NotifyOnFailure: true, CreatedAt: at,
		LandingPageUrls: []string{"https://example.com/a"}}
	tests := []struct {
		name string
		edit func(*leadsquared.Subscription)
		want console.Subscription
	}{
		{"every page, no headers", func(*leadsquared.Subscription) {},
			console.Subscription{ID: "s1", Destination: "lsq-s1", Description: "CRM", URL: "https://crm.example/hook?token=x",
				Method: "POST", ContentType: "application/json", Event: "lead.created", NotifyOnFailure: true, CreatedAt: at}},
		{"specific pages, header names only", func(s *leadsquared.Subscription) {
			s.IsSpecificLandingPage = true
			s.CustomHeaders = []leadsquared.Header{{Key: "X-Api-Key", Value: "secret"}, {Key: "X-Team", Value: "b"}}
		}, console.Subscription{ID: "s1", Destination: "lsq-s1", Description: "CRM", URL: "https://crm.example/hook?token=x",
			Method: "POST", ContentType: "application/json", Event: "lead.created", NotifyOnFailure: true, CreatedAt: at,
			LandingPages: []string{"https://example.com/a"}, Headers: []string{"X-Api-Key", "X-Team"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := base
			tt.edit(&sub)
			if got := consoleSubscription(sub); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("consoleSubscription =\n%+v, want\n%+v", got, tt.want)
			}
		})
	}
}

func TestConsoleRuntime(t *testing.T) {
	dests := []deliver.Destination{{Name: "crm"}}
	got := consoleRuntime(&server.Runtime{Destinations: dests, AccessKey: "ak", SecretKey: "sk", BodyLimit: 1})
	want := console.Runtime{Destinations: dests, AccessKey: "ak", SecretKey: "sk"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("consoleRuntime = %+v, want %+v", got, want)
	}
}

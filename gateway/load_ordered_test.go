package main

import (
	"testing"

	"leadgate/config"
)

// The ordered keys of gateway.yaml reach the destinations and the
// subscriptions' defaults.
func TestOrderedReachesDestinations(t *testing.T) {
	cfg := config.Default()
	for _, name := range []string{"crm", "plain"} {
		d := config.DefaultDestination()
		d.Name, d.URL, d.Ordered = name, "http://127.0.0.1:9/"+name, name == "crm"
		cfg.Destinations = append(cfg.Destinations, d)
	}
	ds, err := destinations(&cfg)
	if err != nil || len(ds) != 2 {
		t.Fatalf("destinations = %+v, %v", ds, err)
	}
	if !ds[0].Ordered || ds[1].Ordered {
		t.Fatalf("ordered: crm %v, plain %v; want true, false", ds[0].Ordered, ds[1].Ordered)
	}
	if !subscriptionSettings(&cfg).Defaults.Delivery.Ordered {
		t.Fatal("subscriptions are unordered by default")
	}
	cfg.Subscriptions.Ordered = false
	if subscriptionSettings(&cfg).Defaults.Delivery.Ordered {
		t.Fatal("subscriptions.ordered: false left them ordered")
	}
}

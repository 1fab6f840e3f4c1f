package adapters

import (
	"github.com/secure-agent/secure-agent/libs/statestore"
)

// StateClient is the slice of the Dapr client the state adapters use.
type StateClient = statestore.Client

// newStore is the orchestrator's view of a state store component.
func newStore(client StateClient, name string) statestore.Store {
	return statestore.Store{Client: client, Name: name, Owner: "the orchestrator"}
}

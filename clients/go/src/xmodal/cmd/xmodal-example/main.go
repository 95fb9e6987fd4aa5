// Command xmodal-example checks health, embeds a text, searches an image collection by text and a text
// collection by speech.
//
//	xmodal-example ADDRESS QUESTION.wav [TEXT_COLLECTION=emoji] [SPEECH_COLLECTION=faq] [QUERY="red apple"]
//
// TLS and the bearer token come from the environment variables of the Python client's CLI: XMODAL_TLS_CA,
// XMODAL_TLS, XMODAL_TLS_CERT + XMODAL_TLS_KEY, XMODAL_TLS_SERVER_NAME, XMODAL_TOKEN (none set: plaintext).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	xmodalv1 "xmodal/v1"
)

// The first call on a CPU server can wait for a busy model.
const deadline = 120 * time.Second

// unpack decodes a shared-space vector: dim float32 values packed little-endian.
func unpack(v *xmodalv1.Vector) ([]float32, error) {
	if len(v.GetData()) != 4*int(v.GetDim()) {
		return nil, fmt.Errorf("vector has %d bytes for dim %d", len(v.GetData()), v.GetDim())
	}
	out := make([]float32, v.GetDim())
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(v.GetData()[4*i:]))
	}
	return out, nil
}

func printHits(label string, hits []*xmodalv1.Hit) {
	for i, h := range hits {
		fmt.Printf("%s %d id=%s score=%.6f modality=%s text=%s\n", label, i+1, h.GetId(), h.GetScore(),
			h.GetModality(), strings.ReplaceAll(h.GetText(), "\n", " "))
	}
}

func fail(err error) {
	if s, ok := status.FromError(err); ok {
		fmt.Fprintf(os.Stderr, "error: %s: %s\n", s.Code(), s.Message())
	} else {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
	}
	os.Exit(1)
}

func arg(i int, def string) string {
	if len(os.Args) > i {
		return os.Args[i]
	}
	return def
}

// bearer sends the token as "authorization: Bearer <token>" metadata on every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is true: grpc-go then never lets these credentials onto a plaintext connection
// (a plaintext connection with a token adds it to each call's context instead, as the Python client does).
func (bearer) RequireTransportSecurity() bool { return true }

// connection reads the same XMODAL_* variables, with the same meaning, as the Python client's CLI. It returns
// the dial options and, for a plaintext connection, the token to add to each call's metadata.
func connection() (opts []grpc.DialOption, plaintextToken string, err error) {
	ca, cert, key := os.Getenv("XMODAL_TLS_CA"), os.Getenv("XMODAL_TLS_CERT"), os.Getenv("XMODAL_TLS_KEY")
	serverName := os.Getenv("XMODAL_TLS_SERVER_NAME")
	token := strings.TrimSpace(os.Getenv("XMODAL_TOKEN"))
	if (cert == "") != (key == "") {
		return nil, "", errors.New("XMODAL_TLS_CERT and XMODAL_TLS_KEY go together: both for mutual TLS, or neither")
	}
	tlsOn := false
	switch strings.ToLower(strings.TrimSpace(os.Getenv("XMODAL_TLS"))) {
	case "1", "true", "yes", "on":
		tlsOn = true
	}
	if !tlsOn && ca == "" && cert == "" && serverName == "" {
		// Plaintext; Debian's grpc-go 1.33 predates credentials/insecure, so WithInsecure it is.
		return []grpc.DialOption{grpc.WithInsecure()}, token, nil
	}
	// ServerName empty: grpc-go verifies the host of ADDRESS. RootCAs nil: the system's root certificates.
	config := &tls.Config{ServerName: serverName}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, "", err
		}
		config.RootCAs = x509.NewCertPool()
		if !config.RootCAs.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("XMODAL_TLS_CA %s: no PEM certificate in it", ca)
		}
	}
	if cert != "" { // mutual TLS
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, "", err
		}
		config.Certificates = []tls.Certificate{pair}
	}
	opts = []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(config))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	return opts, "", nil
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: xmodal-example ADDRESS QUESTION.wav [TEXT_COLLECTION] [SPEECH_COLLECTION] [QUERY]")
		os.Exit(2)
	}
	address := os.Args[1]
	wav, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	imageCollection, speechCollection, query := arg(3, "emoji"), arg(4, "faq"), arg(5, "red apple")

	opts, plaintextToken, err := connection()
	if err != nil {
		fail(err)
	}
	conn, err := grpc.Dial(address, opts...)
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	call := func() (context.Context, context.CancelFunc) {
		ctx := context.Background()
		if plaintextToken != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+plaintextToken)
		}
		return context.WithTimeout(ctx, deadline)
	}

	ctx, cancel := call()
	defer cancel()
	health, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		fail(err)
	}
	fmt.Println("health:", health.GetStatus())

	ctx, cancel = call()
	defer cancel()
	embedded, err := xmodalv1.NewEmbeddingServiceClient(conn).EmbedText(ctx, &xmodalv1.EmbedTextRequest{Texts: []string{query}})
	if err != nil {
		fail(err)
	}
	vector, err := unpack(embedded.GetResult().GetEmbeddings()[0].GetVector())
	if err != nil {
		fail(err)
	}
	parts := make([]string, len(vector))
	for i, x := range vector {
		parts[i] = strconv.FormatFloat(float64(x), 'g', -1, 32) // shortest decimal that reads back as this float32
	}
	fmt.Println("space:", embedded.GetResult().GetSpaceId())
	fmt.Println("dim:", len(vector))
	fmt.Printf("vector: [%s]\n", strings.Join(parts, ", "))

	search := xmodalv1.NewSearchServiceClient(conn)
	ctx, cancel = call()
	defer cancel()
	byText, err := search.SearchByText(ctx, &xmodalv1.SearchByTextRequest{
		Collection: imageCollection, Text: query, Options: &xmodalv1.SearchOptions{TopK: 3}})
	if err != nil {
		fail(err)
	}
	printHits("text_hit", byText.GetResult().GetHits())

	ctx, cancel = call()
	defer cancel()
	bySpeech, err := search.SearchBySpeech(ctx, &xmodalv1.SearchBySpeechRequest{
		Collection: speechCollection, Audio: &xmodalv1.Audio{Data: wav}, Options: &xmodalv1.SearchOptions{TopK: 3}})
	if err != nil {
		fail(err)
	}
	fmt.Println("transcript:", bySpeech.GetTranscript())
	printHits("speech_hit", bySpeech.GetResult().GetHits())
}

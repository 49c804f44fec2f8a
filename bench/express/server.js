// Baseline for make bench: a hand-written Stripe webhook handler as Stripe's
// docs show it (Express + the stripe package: verify, then switch on the
// event type). PORT and STRIPE_WEBHOOK_SECRET come from the environment.
'use strict';

const express = require('express');
const stripe = require('stripe')(process.env.STRIPE_SECRET_KEY || 'sk_test_bench_not_used');

const endpointSecret = process.env.STRIPE_WEBHOOK_SECRET;
const port = Number(process.env.PORT || 4242);
const app = express();

app.post('/webhooks/stripe', express.raw({ type: 'application/json' }), (request, response) => {
  const sig = request.headers['stripe-signature'];

  let event;
  try {
    event = stripe.webhooks.constructEvent(request.body, sig, endpointSecret);
  } catch (err) {
    response.status(400).send(`Webhook Error: ${err.message}`);
    return;
  }

  // Handle the event
  switch (event.type) {
    case 'payment_intent.succeeded': {
      const paymentIntent = event.data.object;
      // Then define and call a function to handle the event payment_intent.succeeded
      void paymentIntent;
      break;
    }
    case 'invoice.paid': {
      const invoice = event.data.object;
      void invoice;
      break;
    }
    // ... handle other event types
    default:
      console.log(`Unhandled event type ${event.type}`);
  }

  // Return a 200 response to acknowledge receipt of the event
  response.json({ received: true });
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`listening express 127.0.0.1:${server.address().port}`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));

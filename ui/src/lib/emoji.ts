//! The emoji offered for reactions: a quick row of the common ones, and a few hundred more in
//! categories for the picker, each with the words it is found by. A short list kept here rather
//! than the whole Unicode set: the picker is for reacting, not for writing, and the bundle stays
//! small. (The composer takes any emoji the system's own input offers.)

export interface Emoji {
  emoji: string;
  /** Lower-case words it is found by, the first one its name. */
  words: string;
}

export interface EmojiCategory {
  id: string;
  label: string;
  emoji: Emoji[];
}

/** The quick row above the picker, in the order shown. */
export const QUICK_REACTIONS = ["❤️", "👍", "👎", "😂", "😮", "😢"] as const;

/** `"😀 grinning smile happy|😃 ..."` to entries. */
function parse(list: string): Emoji[] {
  return list
    .trim()
    .split("|")
    .map((entry) => {
      const space = entry.trim().indexOf(" ");
      return { emoji: entry.trim().slice(0, space), words: entry.trim().slice(space + 1) };
    });
}

export const EMOJI_CATEGORIES: EmojiCategory[] = [
  {
    id: "smileys",
    label: "Smileys & people",
    emoji: parse(`
      😀 grinning smile happy|😃 smiley happy joy|😄 smile happy laugh|😁 grin beaming|😆 laughing satisfied|
      😅 sweat smile relief|🤣 rolling on the floor laughing rofl|😂 joy tears laughing lol|🙂 slightly smiling|
      🙃 upside down silly|😉 wink|😊 blush smiling happy|😇 innocent halo angel|🥰 love hearts adore|
      😍 heart eyes love|🤩 star struck wow|😘 kiss blow|😗 kissing|😋 yum delicious tasty|😛 tongue|
      😜 wink tongue crazy|🤪 zany goofy|😝 squinting tongue|🤑 money|🤗 hug hugging|🤭 hand over mouth oops|
      🤫 shush quiet secret|🤔 thinking hmm|🤐 zipper mouth|🤨 raised eyebrow sceptical|😐 neutral meh|
      😑 expressionless|😶 no mouth speechless|😏 smirk|😒 unamused|🙄 eye roll|😬 grimace awkward|
      😌 relieved calm|😔 pensive sad|😪 sleepy|🤤 drooling|😴 sleeping tired zzz|😷 mask sick|
      🤒 thermometer ill fever|🤕 bandage hurt|🤢 nauseated sick|🤮 vomit|🥵 hot heat|🥶 cold freezing|
      🥴 woozy dizzy|😵 dizzy|🤯 mind blown exploding head|🤠 cowboy|🥳 party celebrate|😎 cool sunglasses|
      🤓 nerd geek|🧐 monocle|😕 confused|😟 worried|🙁 frowning|😮 open mouth wow surprised|
      😯 hushed|😲 astonished shocked|😳 flushed embarrassed|🥺 pleading puppy eyes|😦 frowning open mouth|
      😧 anguished|😨 fearful scared|😰 anxious sweat|😥 sad relieved|😢 cry sad tear|😭 sob crying|
      😱 scream fear|😖 confounded|😣 persevere|😞 disappointed|😓 downcast sweat|😩 weary|😫 tired|
      🥱 yawn bored|😤 triumph huff|😡 angry pout rage|😠 angry mad|🤬 cursing swearing|😈 devil smiling|
      💀 skull dead|💩 poop|🤡 clown|👻 ghost|👽 alien|🤖 robot|😺 cat smiling|
      👋 wave hello bye|🤚 raised back of hand|✋ raised hand stop high five|🖖 vulcan salute|
      👌 ok perfect|🤌 pinched fingers|✌️ victory peace|🤞 crossed fingers luck|🤟 love you gesture|
      🤘 rock on horns|🤙 call me|👈 point left|👉 point right|👆 point up|👇 point down|☝️ index up|
      👍 thumbs up yes like agree|👎 thumbs down no dislike|✊ raised fist|👊 fist bump|
      👏 clap applause|🙌 raising hands hooray|👐 open hands|🤲 palms up|🤝 handshake deal|
      🙏 folded hands please thanks pray|✍️ writing|💪 muscle strong flex|🧠 brain smart|👀 eyes look|
      👁️ eye|👅 tongue|👄 mouth|🙈 see no evil monkey|🙉 hear no evil|🙊 speak no evil|
      🤷 shrug|🤦 facepalm|🙋 raising hand|🙇 bow|💁 tipping hand|🙆 ok gesture|🙅 no gesture|
      👶 baby|🧒 child|👩 woman|👨 man|🧓 older person|👪 family|💃 dancing woman|🕺 dancing man|
      🏃 running|🚶 walking`),
  },
  {
    id: "nature",
    label: "Animals & nature",
    emoji: parse(`
      🐶 dog puppy|🐱 cat kitten|🐭 mouse|🐹 hamster|🐰 rabbit bunny|🦊 fox|🐻 bear|🐼 panda|
      🐨 koala|🐯 tiger|🦁 lion|🐮 cow|🐷 pig|🐸 frog|🐵 monkey|🐔 chicken|🐧 penguin|🐦 bird|
      🐤 chick|🦆 duck|🦅 eagle|🦉 owl|🦇 bat|🐺 wolf|🐗 boar|🐴 horse|🦄 unicorn|🐝 bee honey|
      🐛 bug caterpillar|🦋 butterfly|🐌 snail slow|🐞 ladybird ladybug|🐜 ant|🕷️ spider|🐢 turtle slow|
      🐍 snake|🦎 lizard|🐙 octopus|🦑 squid|🦀 crab|🐠 tropical fish|🐟 fish|🐬 dolphin|🐳 whale|
      🦈 shark|🐊 crocodile|🐘 elephant|🦒 giraffe|🦓 zebra|🦔 hedgehog|🐿️ squirrel|
      🌵 cactus|🎄 christmas tree|🌲 evergreen tree|🌳 tree|🌴 palm tree|🌱 seedling sprout|
      🌿 herb|☘️ shamrock|🍀 four leaf clover luck|🍁 maple leaf autumn|🍂 fallen leaves|🍄 mushroom|
      💐 bouquet flowers|🌷 tulip|🌹 rose|🥀 wilted flower|🌺 hibiscus|🌸 cherry blossom|🌼 blossom|
      🌻 sunflower|🌞 sun face|🌝 moon face|🌙 crescent moon night|⭐ star|🌟 glowing star|✨ sparkles|
      ⚡ lightning zap|🔥 fire hot lit|🌈 rainbow|☀️ sun sunny|⛅ cloud sun|☁️ cloud|🌧️ rain|
      ⛈️ storm thunder|❄️ snowflake snow cold|☃️ snowman|💧 droplet water|🌊 wave sea ocean|🌍 earth globe world`),
  },
  {
    id: "food",
    label: "Food & drink",
    emoji: parse(`
      🍏 green apple|🍎 apple red|🍐 pear|🍊 orange tangerine|🍋 lemon|🍌 banana|🍉 watermelon|
      🍇 grapes|🍓 strawberry|🫐 blueberries|🍒 cherries|🍑 peach|🥭 mango|🍍 pineapple|🥥 coconut|
      🥝 kiwi|🍅 tomato|🥑 avocado|🍆 aubergine eggplant|🥔 potato|🥕 carrot|🌽 corn|🌶️ hot pepper chili|
      🥒 cucumber|🥦 broccoli|🧄 garlic|🧅 onion|🥐 croissant|🍞 bread|🥖 baguette|🧀 cheese|🥚 egg|
      🍳 cooking fried egg|🥞 pancakes|🥓 bacon|🍗 chicken leg|🍔 burger hamburger|🍟 fries chips|
      🍕 pizza|🌭 hot dog|🥪 sandwich|🌮 taco|🌯 burrito|🥗 salad|🍝 spaghetti pasta|🍜 noodles ramen|
      🍲 stew pot|🍛 curry rice|🍣 sushi|🍱 bento|🥟 dumpling|🍤 shrimp prawn|🍙 rice ball|🍚 rice|
      🍦 ice cream|🍩 doughnut donut|🍪 cookie biscuit|🎂 birthday cake|🍰 cake slice|🧁 cupcake|
      🍫 chocolate|🍬 sweet candy|🍭 lollipop|🍯 honey|☕ coffee tea hot|🍵 tea|🧃 juice|🥤 soft drink|
      🍺 beer|🍻 cheers beers|🥂 toast champagne cheers|🍷 wine|🥃 whisky|🍸 cocktail|🍾 bottle popping|
      🧊 ice|🍿 popcorn|🧂 salt`),
  },
  {
    id: "activities",
    label: "Activities & travel",
    emoji: parse(`
      ⚽ football soccer|🏀 basketball|🏈 american football|⚾ baseball|🎾 tennis|🏐 volleyball|
      🏉 rugby|🎱 pool billiards|🏓 ping pong table tennis|🏸 badminton|⛳ golf|🎣 fishing|🎿 ski|
      🏂 snowboard|🏋️ weight lifting|🚴 cycling bike|🏊 swimming|🧘 yoga|🏆 trophy winner|🥇 gold medal first|
      🥈 silver medal|🥉 bronze medal|🏅 medal|🎯 target bullseye|🎮 video game|🎲 dice|🧩 puzzle|
      ♟️ chess|🎨 art palette|🎭 theatre|🎤 microphone sing karaoke|🎧 headphones music|🎸 guitar|
      🎹 piano keyboard|🥁 drum|🎺 trumpet|🎻 violin|🎬 film clapper|🎉 party popper tada celebrate|
      🎊 confetti|🎈 balloon|🎁 gift present|🎀 ribbon|🎃 pumpkin halloween|🎆 fireworks|🎇 sparkler|
      🚗 car|🚕 taxi|🚌 bus|🚎 trolleybus|🏎️ race car|🚓 police car|🚑 ambulance|🚒 fire engine|🚲 bicycle|
      🛴 scooter|🏍️ motorcycle|🚂 train steam|🚆 train|🚇 metro underground|✈️ plane flight|🚀 rocket launch|
      🛸 ufo|🚁 helicopter|⛵ sailboat|🚢 ship|⚓ anchor|🗺️ map|🧭 compass|🏔️ mountain snow|⛰️ mountain|
      🏕️ camping|🏖️ beach|🏝️ island|🏠 house home|🏡 garden house|🏢 office building|🏥 hospital|
      🏫 school|🏰 castle|🗼 tower|🗽 statue of liberty|⛲ fountain|🎡 ferris wheel|🎢 roller coaster`),
  },
  {
    id: "objects",
    label: "Objects",
    emoji: parse(`
      ⌚ watch|📱 phone mobile|💻 laptop computer|⌨️ keyboard|🖥️ desktop computer|🖨️ printer|🖱️ mouse|
      💾 floppy disk save|📷 camera photo|🎥 film camera|📺 television tv|📻 radio|⏰ alarm clock|⌛ hourglass|
      ⏳ hourglass flowing time|🔋 battery|🔌 plug|💡 light bulb idea|🔦 torch flashlight|🕯️ candle|
      💸 money flying|💵 dollar banknote|💰 money bag|💳 credit card|💎 gem diamond|⚖️ scales balance|
      🔧 wrench spanner|🔨 hammer|🛠️ tools|⚙️ gear settings|🔩 nut bolt|🧰 toolbox|🧲 magnet|🔬 microscope|
      🔭 telescope|💊 pill medicine|💉 syringe vaccine|🩹 plaster bandage|🧹 broom|🧺 basket|🧻 toilet paper|
      🛁 bath|🔑 key|🗝️ old key|🚪 door|🛋️ sofa couch|🛏️ bed|🧸 teddy bear|🖼️ picture frame|🛒 shopping cart|
      🎒 backpack|👓 glasses|🕶️ sunglasses|👔 tie shirt|👕 t-shirt|👖 jeans|🧣 scarf|🧤 gloves|🧥 coat|
      👗 dress|👟 trainer shoe|👠 high heel|👑 crown king queen|🎩 top hat|💄 lipstick|💍 ring|☂️ umbrella|
      ✉️ envelope mail|📧 email|📦 package parcel box|📝 memo note write|📅 calendar date|📌 pushpin pin|
      📎 paperclip|✂️ scissors|🖊️ pen|✏️ pencil|📚 books|📖 open book read|🔖 bookmark|🏷️ label tag|
      📰 newspaper|🔒 lock locked|🔓 unlocked|🔔 bell notification|🔕 bell off mute|📣 megaphone|📢 loudspeaker`),
  },
  {
    id: "symbols",
    label: "Symbols",
    emoji: parse(`
      ❤️ red heart love|🧡 orange heart|💛 yellow heart|💚 green heart|💙 blue heart|💜 purple heart|
      🖤 black heart|🤍 white heart|🤎 brown heart|💔 broken heart|❣️ heart exclamation|💕 two hearts|
      💞 revolving hearts|💓 beating heart|💗 growing heart|💖 sparkling heart|💘 heart arrow cupid|
      💝 heart ribbon|💯 hundred points perfect|💢 anger|💥 collision boom|💫 dizzy star|💦 sweat drops|
      💨 dash fast|💬 speech bubble|💭 thought bubble|💤 zzz sleep|✅ check mark done yes|☑️ ballot check|
      ✔️ tick|❌ cross no wrong|❎ cross mark button|➕ plus add|➖ minus|➗ divide|✖️ multiply|❓ question|
      ❔ white question|❗ exclamation|❕ white exclamation|‼️ double exclamation|⁉️ exclamation question|
      ⚠️ warning|🚫 prohibited no|⛔ no entry|🔞 no under eighteen|♻️ recycle|✳️ asterisk|❇️ sparkle|
      🔴 red circle|🟠 orange circle|🟡 yellow circle|🟢 green circle|🔵 blue circle|🟣 purple circle|
      ⚫ black circle|⚪ white circle|🟥 red square|🟩 green square|🟦 blue square|🔺 red triangle up|
      🔻 red triangle down|🔶 orange diamond|🔷 blue diamond|🆗 ok button|🆕 new button|🆒 cool button|
      🆘 sos help|🔝 top|🔜 soon|🔙 back|♾️ infinity|🎵 music note|🎶 notes music|➡️ right arrow|
      ⬅️ left arrow|⬆️ up arrow|⬇️ down arrow|🔁 repeat|🔀 shuffle|▶️ play|⏸️ pause|⏹️ stop|
      🏁 chequered flag finish|🚩 red flag|🏳️ white flag|🏳️‍🌈 rainbow flag pride|🏴‍☠️ pirate flag`),
  },
];

/** Every emoji in the picker, once. */
export const ALL_EMOJI: Emoji[] = EMOJI_CATEGORIES.flatMap((c) => c.emoji);

/** The emoji whose words start with every word of `query` (case and accents aside). */
export function searchEmoji(query: string): Emoji[] {
  const terms = fold(query).split(/\s+/u).filter(Boolean);
  if (terms.length === 0) return ALL_EMOJI;
  return ALL_EMOJI.filter((e) => {
    const words = fold(e.words).split(/[\s-]+/u);
    return terms.every((t) => words.some((w) => w.startsWith(t)));
  });
}

function fold(text: string): string {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}
